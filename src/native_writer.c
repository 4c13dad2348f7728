/* SPDX-License-Identifier: MIT */
/*
 * The writer of the native layout: the writer's half of the left-right
 * protocol (the reader's half, and the protocol, are at the top of
 * include/mmsync_read.h), reader slots, their liveness, and eviction.
 *
 * Publish (mmsync_write):
 *   finish the waits of the previous publish (they are deferred, so that a
 *   write returns as soon as its version is visible):
 *       wait until no slot arrived on !vi;  vi = !vi;
 *       wait until no slot arrived on the old vi
 *   now no reader can be on copy !li: fill it and its descriptor, li = !li;
 *   then (a membarrier if a reader is fenceless and) a note of each slot's
 *   arrival (published_arrivals()): the waits pass over a slot whose
 *   arrival has changed since, or whose reading names the copy just
 *   published.
 *
 * Slots. A reader connected over the socket gets a slot object of its own,
 * a one-page memfd that the writer maps too; readers made from exported
 * descriptors share the slot table. The writer trusts nothing it reads from
 * a slot: a value only makes it wait, and never longer than the grace period.
 *
 * Liveness. Each reader holds an open-file-description lock on its slot,
 * on an open file description no one else holds: for a socket reader the
 * writer takes a read lock on a fresh description and sends it (the lock
 * belongs to the description, so it goes with it); a table reader takes a
 * write lock on its slot's bytes itself. When a reader dies, however it
 * dies, the kernel closes the description and drops the lock; the writer's
 * F_OFD_GETLK probe then finds the slot unlocked and takes it back at once,
 * across pid namespaces and sandboxes.
 *
 * Eviction. A slot the writer has seen hold up a wait for the grace period
 * is evicted (the rules are at wait_indicator()): the writer bumps the
 * slot's eviction count, issues a membarrier (membarrier_evicted()), and
 * goes on. The reader's
 * read_end stores its departure and then loads the count: the membarrier
 * forces a full barrier in every running thread between the writer's bump
 * and its first write to the copy, so either the reader's read had ended
 * before that write, or the reader sees the bump and returns -ESTALE. The
 * writer then ignores that slot while it keeps the same arrival value.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpf_state.h"
#include "fdpass.h"
#include "hash.h"
#include "native_layout.h"
#include "opts.h"
#include "segment.h"
#include "uring.h"
#include "writer.h"

#define SPIN_NS 20000ull		/* spin this long before probing and sleeping */
#define PROBE_INTERVAL_NS 1000000ull	/* re-probe a live, busy slot every ms */
#define TABLE_PROBE_NS 100000000ull	/* dispatch probes the table every 100 ms */
/* write_from_fd: 1 MiB a request, 4 in flight. Over 5 runs of the sweep in
 * tools/bench_write.c (256 KiB..4 MiB x depth 1..8, 256 MiB from the page
 * cache) these were 90-100 % of the best of the 9 settings, and the best
 * changed from run to run: all lie within the machine's noise. */
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_DEPTH 4

enum slot_kind { SLOT_FREE, SLOT_TABLE, SLOT_OWN };

struct wslot {
	enum slot_kind kind;
	struct native_slot *s;
	struct segment obj;	/* SLOT_OWN: the reader's slot object */
	int conn;		/* SLOT_OWN: the connection, -1 once closed */
	uint64_t evicted_arrival; /* arrival value given up on; 0: none */
	uint64_t probed_ns;	/* last liveness probe that found it alive */
	uint64_t published_arrival; /* arrival value right after publish number */
	uint64_t published_seq;	/* ... this one; 0: none to go by */
	uint64_t seen_arrival;	/* arrival value last seen, and since when */
	uint64_t seen_ns;
	unsigned arrivals;	/* arrivals on the awaited indicator in this wait */
	bool evicted_in_write;
	bool held;		/* SLOT_TABLE: a reader held it at the last probe */
	bool revoked;		/* SLOT_OWN: dropped while alive; kept until it dies */
};

/* Two copies of one generation, and what readers get of them. */
struct copies {
	struct segment seg[2];
	int ro[2];		/* read-only descriptions handed to readers */
	uint64_t capacity;	/* bytes each */
	uint64_t populated[2];	/* bytes of each allocated and mapped */
};

struct native_writer {
	char name[NATIVE_NAME_MAX];
	enum segment_kind kind;
	char *hugetlbfs_dir;
	long page;
	unsigned max_readers;
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;

	struct segment state;	/* the header, a memfd */
	struct bpf_state *bpf;	/* its mirror in a pinned BPF map, or NULL */
	void *mirror;		/* the mirror, mapped */
	struct native_header *h;
	/* The generation readers have, and the larger one a write is filling:
	 * it takes effect when that write publishes (generation_commit()). */
	struct copies cur, next;
	struct copies *fill;	/* the set the current write fills: &cur or &next */
	int state_ro;
	uint64_t generation, seq;
	bool pending;		/* waits of the last publish not done yet */
	bool checksum;		/* MMSYNC_CHECKSUM */
	bool barrier_down;	/* a membarrier failed: fenceless slots are revoked */
	struct uring ring;
	size_t chunk;		/* write_from_fd: bytes a request */
	unsigned depth;		/* write_from_fd: requests in flight */
	unsigned build;		/* the copy write_begin handed out */
	unsigned build_evicted;

	struct segment table;	/* slot table of exported-descriptor readers */
	struct wslot *slots;	/* [0, max_readers): table; then own slots */
	unsigned *active;	/* indices of the slots the waits scan */
	unsigned n_active;
	bool active_dirty;	/* a slot came or went since the list was made */
	bool table_used;	/* descriptors were exported: scan the table too */
	uint64_t table_probed_ns;

	int epoll;
	int listen_fd;
	char *sock_path;	/* to unlink at close; NULL for abstract/systemd */
	uid_t *allow_uids;
	gid_t *allow_gids;
	size_t n_uids, n_gids;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void logf_(struct native_writer *nw, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logf_(struct native_writer *nw, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (nw->log)
		nw->log(nw->log_ctx, msg);
	else
		fprintf(stderr, "mmsync: %s: %s\n", nw->name, msg);
}

/* ---- slots and liveness ---- */

static unsigned nr_slots(const struct native_writer *nw)
{
	return 2 * nw->max_readers;
}

/* True while the reader of slot @i holds its lock: alive. */
static bool slot_alive(struct native_writer *nw, unsigned i)
{
	struct wslot *ws = &nw->slots[i];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd;

	if (ws->kind == SLOT_OWN) {
		fd = ws->obj.fd;
	} else {
		fd = nw->table.fd;
		fl.l_start = (off_t)(i * sizeof(struct native_slot));
		fl.l_len = sizeof(struct native_slot);
	}
	if (fcntl(fd, F_OFD_GETLK, &fl))
		return true; /* cannot tell: keep it */
	return fl.l_type != F_UNLCK;
}

/* The list of slots worth scanning: connected readers, and the table once
 * descriptors were exported. Rebuilt outside the scans, which only mark it. */
static void active_refresh(struct native_writer *nw)
{
	if (!nw->active_dirty)
		return;
	nw->n_active = 0;
	for (unsigned i = 0; i < nr_slots(nw); i++)
		if ((nw->slots[i].kind == SLOT_TABLE && nw->table_used) || nw->slots[i].kind == SLOT_OWN)
			nw->active[nw->n_active++] = i;
	nw->active_dirty = false;
}

/* Takes back the slot of a dead reader. A table slot keeps its place but
 * loses the dead reader's arrival, @seen, loaded before the probe that
 * found the slot unlocked: a reader may have claimed the slot since and
 * arrived, and its arrival (another value) must stay. */
static void slot_reclaim(struct native_writer *nw, unsigned i, uint64_t seen)
{
	nw->active_dirty = true;
	struct wslot *ws = &nw->slots[i];

	if (ws->kind == SLOT_OWN) {
		if (ws->conn >= 0) {
			epoll_ctl(nw->epoll, EPOLL_CTL_DEL, ws->conn, NULL);
			close(ws->conn);
		}
		segment_destroy(&ws->obj);
		*ws = (struct wslot){ .kind = SLOT_FREE, .conn = -1, .obj = { .fd = -1 } };
	} else {
		atomic_compare_exchange_strong(&ws->s->arrived, &seen, 0);
		ws->evicted_arrival = 0;
		ws->published_seq = 0;
	}
	atomic_fetch_add(&nw->h->reclaimed, 1);
}

/* Bumps the slot's eviction count: its open view, if any, ends in -ESTALE
 * (see the eviction comment at the top), and its next begin takes the
 * library's path. The fill that follows is ordered after it by prepare(). */
static void slot_evict(struct native_writer *nw, unsigned i, uint64_t arrival)
{
	struct wslot *ws = &nw->slots[i];
	ws->evicted_arrival = arrival;
	atomic_fetch_add(&ws->s->evictions, 1);
	atomic_fetch_add(&nw->h->evictions, 1);
}

/* Drops a reader whose connection failed (it sent data, hung up, or could
 * not be sent a generation) but whose lock says it lives. Its slot stays
 * in the waits until it dies, so a view it holds is still protected or
 * told; its count is bumped and its slot marked, so that its next begin
 * (and mmsync_reader_check()) says -ECONNRESET. Freeing the slot instead
 * would leave a live reader reading unprotected. */
static void slot_revoke(struct native_writer *nw, unsigned i, const char *why)
{
	struct wslot *ws = &nw->slots[i];

	logf_(nw, "reader %u %s: revoked", i - nw->max_readers, why);
	if (ws->conn >= 0) {
		epoll_ctl(nw->epoll, EPOLL_CTL_DEL, ws->conn, NULL);
		close(ws->conn);
		ws->conn = -1;
	}
	ws->revoked = true;
	atomic_store(&ws->s->revoked, 1);
	atomic_fetch_add(&ws->s->evictions, 1);
}

/* A connected reader whose connection failed: reclaimed if dead, else
 * revoked. */
static void slot_drop(struct native_writer *nw, unsigned i, const char *why)
{
	if (slot_alive(nw, i))
		slot_revoke(nw, i, why);
	else
		slot_reclaim(nw, i, atomic_load(&nw->slots[i].s->arrived));
}

/* Notes slot @ws's arrival as the writer sees it now. Return: the arrival
 * if the slot holds up a wait on indicator @x, else 0. The clock of a slot
 * (seen_ns) starts when the writer first sees an arrival; it is not
 * restarted by further arrivals on x within the same wait, so that a
 * reader cannot buy itself a new grace period by arriving again. */
static uint64_t slot_on(struct wslot *ws, unsigned x, unsigned cur, uint64_t seq, uint64_t now)
{
	if (ws->kind == SLOT_FREE)
		return 0;
	uint64_t a = atomic_load(&ws->s->arrived);
	if (a != ws->seen_arrival) {
		bool on_x = a && arrived_indicator(a) == x;
		if (!on_x || ws->arrivals++ == 0)
			ws->seen_ns = now;
		ws->seen_arrival = a;
	}
	if (!a || arrived_indicator(a) != x || a == ws->evicted_arrival)
		return 0;
	/* Arrived since the publish: it loads li after the writer's store (see
	 * published_arrivals()), so it reads the current copy. */
	if (ws->published_seq == seq && a != ws->published_arrival)
		return 0;
	/* Its own word says it reads the current copy: the next write fills
	 * the other one, so it is not in the way (a value only a reader of
	 * that very arrival can have written; a forged one hurts its forger). */
	if (slot_reading(a, atomic_load(&ws->s->reading)) == (int)cur)
		return 0;
	return a;
}

/*
 * Waits until no slot is arrived on indicator @x, but for readers whose
 * slot says they read the current copy: the next write fills the other.
 *
 * A dead reader's slot is taken back as soon as a probe finds it unlocked:
 * the probe runs once a slot has held the wait for SPIN_NS.
 *
 * A live reader is evicted when the writer has seen it hold its view for
 * the grace period (an honest reader is never evicted sooner). While the
 * writer waits on x, new arrivals go to the other indicator, so an honest
 * reader shows at most two arrivals on x in one wait (the one it had, and
 * one made with a load of vi from before the toggle): a slot showing more
 * does not follow the protocol and is evicted at once. A slot evicted
 * earlier in this write is evicted again at once if it holds the wait
 * again. Whatever the slots do, at @hard_deadline (the write's start plus
 * twice the grace period) every slot still there is evicted.
 *
 * Return: the number of readers evicted.
 */
static unsigned wait_indicator(struct native_writer *nw, unsigned x, uint64_t grace_ns,
			       uint64_t hard_deadline)
{
	unsigned cur = atomic_load(&nw->h->li);
	unsigned evicted = 0;
	uint64_t start = now_ns(CLOCK_MONOTONIC), now = start;

	active_refresh(nw);

	for (unsigned k = 0; k < nw->n_active; k++)
		nw->slots[nw->active[k]].arrivals = 0;
	for (;;) {
		unsigned busy = 0;
		bool probe = now - start >= SPIN_NS;
		for (unsigned k = 0; k < nw->n_active; k++) {
			unsigned i = nw->active[k];
			struct wslot *ws = &nw->slots[i];
			uint64_t a = slot_on(ws, x, cur, nw->seq, now);
			if (!a)
				continue;
			bool breach = ws->arrivals > 2;
			if (probe && !breach && now - ws->probed_ns >= PROBE_INTERVAL_NS) {
				if (!slot_alive(nw, i)) {
					slot_reclaim(nw, i, a);
					continue;
				}
				ws->probed_ns = now;
			}
			if (breach || ws->evicted_in_write || now - ws->seen_ns >= grace_ns ||
			    now >= hard_deadline) {
				slot_evict(nw, i, a);
				ws->evicted_in_write = true;
				evicted++;
				continue;
			}
			busy++;
		}
		if (!busy)
			break;
		if (now - start < SPIN_NS) {
			cpu_relax();
		} else {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
		now = now_ns(CLOCK_MONOTONIC);
	}
	return evicted;
}

static unsigned finish_waits(struct native_writer *nw, uint64_t grace_ns)
{
	unsigned evicted = 0;

	if (!nw->pending)
		return 0;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	uint64_t hard = now + (grace_ns < UINT64_MAX / 4 ? 2 * grace_ns : UINT64_MAX / 2);
	active_refresh(nw);
	for (unsigned k = 0; k < nw->n_active; k++)
		nw->slots[nw->active[k]].evicted_in_write = false;
	unsigned vi = atomic_load(&nw->h->vi);
	evicted += wait_indicator(nw, !vi, grace_ns, hard);
	atomic_store(&nw->h->vi, !vi);
	evicted += wait_indicator(nw, vi, grace_ns, hard);
	nw->pending = false;
	return evicted;
}

/* What bpftool and the metrics iterator see: a copy of the header. */
static void mirror_sync(struct native_writer *nw)
{
	if (nw->mirror)
		memcpy(nw->mirror, nw->h, sizeof(*nw->h));
}

/* The figures in the header: readers per copy and live slots. */
static void refresh_figures(struct native_writer *nw, bool probe_table)
{
	uint32_t readers[2] = { 0, 0 }, live = 0;
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	active_refresh(nw);
	probe_table = probe_table && now - nw->table_probed_ns >= TABLE_PROBE_NS;
	if (probe_table)
		nw->table_probed_ns = now;
	for (unsigned k = 0; k < nw->n_active; k++) {
		unsigned i = nw->active[k];
		struct wslot *ws = &nw->slots[i];
		if (ws->kind == SLOT_FREE)
			continue;
		/* Table slots, and revoked readers (no connection tells of
		 * their death): probed here, as a wait would. */
		if ((ws->kind == SLOT_TABLE || ws->revoked) && probe_table) {
			uint64_t a = atomic_load(&ws->s->arrived); /* before the probe */
			ws->held = slot_alive(nw, i);
			if (!ws->held && (a || ws->revoked)) {
				slot_reclaim(nw, i, a);
				continue;
			}
		}
		if (ws->kind == SLOT_OWN || ws->held)
			live++;
		int c = slot_reading(atomic_load(&ws->s->arrived), atomic_load(&ws->s->reading));
		if (c >= 0)
			readers[c]++;
	}
	atomic_store(&nw->h->readers[0], readers[0]);
	atomic_store(&nw->h->readers[1], readers[1]);
	atomic_store(&nw->h->live_slots, live);
	mirror_sync(nw);
}

/* ---- copies and generations ---- */

static size_t round_up(uint64_t n, long page)
{
	return (size_t)((n + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page);
}

static const struct copies no_copies = { .seg = { { .fd = -1 }, { .fd = -1 } }, .ro = { -1, -1 } };

static void copies_destroy(struct copies *cs)
{
	for (int i = 0; i < 2; i++) {
		segment_destroy(&cs->seg[i]);
		if (cs->ro[i] >= 0)
			close(cs->ro[i]);
	}
	*cs = no_copies;
}

/* Two new copies in @cs, which holds none. */
static int copies_create(struct native_writer *nw, uint64_t capacity, struct copies *cs)
{
	int err = 0;

	cs->capacity = capacity;
	for (int i = 0; i < 2 && !err; i++) {
		err = segment_create(&cs->seg[i], nw->name, nw->kind, nw->hugetlbfs_dir, capacity,
				     NATIVE_SEALS_COPY);
		if (!err) {
			cs->ro[i] = segment_reopen(cs->seg[i].fd, O_RDONLY);
			if (cs->ro[i] < 0)
				err = cs->ro[i];
		}
	}
	if (err == -ENOMEM && nw->kind != SEG_MEMFD)
		logf_(nw, "not enough free huge pages for two copies of %llu bytes (see vm.nr_hugepages)",
		      (unsigned long long)capacity);
	if (err)
		copies_destroy(cs);
	return err;
}

static void fill_msg(struct native_writer *nw, struct native_msg *m, unsigned type)
{
	*m = (struct native_msg){
		.magic = NATIVE_MAGIC,
		.proto_version = NATIVE_PROTO_VERSION,
		.layout_version = NATIVE_LAYOUT_VERSION,
		.type = type,
		.generation = nw->generation,
		.capacity = nw->cur.capacity,
		.max_readers = nw->max_readers,
		.flags = nw->kind == SEG_HUGETLBFS ? NATIVE_FLAG_UNSEALED : 0,
		.nr_fds = type == NATIVE_MSG_HELLO ? 4 : 2,
	};
	snprintf(m->name, sizeof(m->name), "%s", nw->name);
}

/* Larger copies for a payload of @len bytes, in nw->next: private to the
 * writer until the write that fills them publishes. A write that fails or
 * is aborted drops them, and nothing a reader or `mmsync stat` sees has
 * changed. */
static int generation_prepare(struct native_writer *nw, uint64_t len)
{
	uint64_t cap = nw->cur.capacity * 2;
	if (cap < len + len / 2)
		cap = len + len / 2;
	if (cap > MMSYNC_MAX_PAYLOAD + 1)
		cap = MMSYNC_MAX_PAYLOAD + 1;
	return copies_create(nw, round_up(cap, nw->page), &nw->next);
}

/* The generation takes effect, right before the store of li that publishes
 * its first version. Connected readers get the new descriptors before any
 * version names them, so that a reader that sees the new generation in a
 * descriptor finds them already queued on its socket; a reader that cannot
 * be sent them is revoked. Readers still on an old copy keep their own
 * mapping of it; the writer never writes an old copy again. */
static void generation_commit(struct native_writer *nw)
{
	copies_destroy(&nw->cur);
	nw->cur = nw->next;
	nw->next = no_copies;
	nw->fill = &nw->cur;
	nw->generation++;

	struct native_msg m;
	fill_msg(nw, &m, NATIVE_MSG_GENERATION);
	for (unsigned i = nw->max_readers; i < nr_slots(nw); i++) {
		struct wslot *ws = &nw->slots[i];
		if (ws->kind != SLOT_OWN || ws->revoked)
			continue;
		int err = fdpass_send(ws->conn, &m, sizeof(m), nw->cur.ro, 2);
		if (err)
			slot_drop(nw, i, "could not be sent a generation");
	}
	atomic_store(&nw->h->populated[0], nw->cur.populated[0]);
	atomic_store(&nw->h->populated[1], nw->cur.populated[1]);
	atomic_store(&nw->h->capacity, nw->cur.capacity);
	atomic_store(&nw->h->generation, nw->generation);
}

/* Makes the first @len bytes of copy @c of the set being filled exist and
 * mapped in the writer, so that filling them takes no page fault. Readers
 * map what the header says is populated when they map the copies, and
 * more when a version needs it. */
static int copy_prefault(struct native_writer *nw, unsigned c, uint64_t len)
{
	struct copies *cs = nw->fill;
	if (len <= cs->populated[c])
		return 0;
	uint64_t end = round_up(len, nw->page);
	int err = uring_prefault(&nw->ring, cs->seg[c].fd, cs->seg[c].map, cs->populated[c],
				 end - cs->populated[c]);
	if (err)
		return err;
	cs->populated[c] = end;
	if (cs == &nw->cur)
		atomic_store(&nw->h->populated[c], end);
	return 0;
}

/* A membarrier failed (seccomp, say): fenceless readers can no longer be
 * served as such. The rule, "revoke while the barrier is down": the header
 * says so for good (new readers go fenced), and before every fill the
 * writer bumps the count of each slot still declaring the fenceless mode
 * (fenceless_revoke()), so that a view whose arrival the writer could not
 * see is told, and the reader turns fenced at its next begin. Store of the
 * flag, then loads of the modes; readers store the mode, then load the
 * flag: one side sees the other (tests/protocol.pml models it). */
static void barrier_down(struct native_writer *nw, int err)
{
	atomic_fetch_add(&nw->h->membarrier_failures, 1);
	if (nw->barrier_down)
		return;
	logf_(nw, "membarrier: %s: fenceless readers are revoked and read fenced from now on",
	      strerror(err));
	nw->barrier_down = true;
	atomic_store(&nw->h->fenceless_ok, 0);
}

static void fenceless_revoke(struct native_writer *nw)
{
	active_refresh(nw);
	for (unsigned k = 0; k < nw->n_active; k++) {
		struct wslot *ws = &nw->slots[nw->active[k]];
		if (ws->kind != SLOT_FREE && atomic_load(&ws->s->mode) == SLOT_MODE_FENCELESS)
			atomic_fetch_add(&ws->s->evictions, 1);
	}
}

/* Everything before the bytes go in: the waits of the last publish, the
 * copies of a new generation if @room bytes do not fit, the copy
 * prefaulted. Return: 0 with *cp the copy of nw->fill to fill, or -errno
 * with nothing published and nothing visible changed. */
static int prepare(struct native_writer *nw, uint64_t room, uint64_t grace_ns, unsigned *cp,
		   unsigned *evicted)
{
	int err;

	*evicted = finish_waits(nw, grace_ns);
	if (nw->barrier_down)
		fenceless_revoke(nw);
	/* Counts bumped (evictions, revocations) before any byte of the fill:
	 * the writer's half of the seqlock order at the top of this file. */
	atomic_thread_fence(memory_order_release);
	nw->fill = &nw->cur;
	if (room > nw->cur.capacity) {
		if ((err = generation_prepare(nw, room)))
			return err;
		nw->fill = &nw->next;
	}
	/* Nobody reads copy c now: no arrival before the waits can see li == c,
	 * and every arrival after them reads li, which is !c. (A new
	 * generation's copies were never read.) */
	*cp = !atomic_load(&nw->h->li);
	if ((err = copy_prefault(nw, *cp, room)))
		native_write_abort(nw);
	return err;
}

/*
 * Right after the store of li: the barrier fenceless readers need, then a
 * note of each slot's arrival.
 *
 * Fenceless readers store their arrival without a fence: the membarrier
 * makes either their arrival visible here or li's new value visible to
 * them. Paid only while such a reader is connected; a reader that turns
 * fenceless later fences its store of slot.mode (seq_cst) after its
 * registration and before its first arrival, so it loads the new li.
 * Once the barrier has failed, a fenceless slot's arrival proves nothing:
 * it is not noted (and barrier_down() says what keeps its reads told).
 *
 * The note: an arrival the writer sees later with another value (each is
 * new) was stored after the note's load saw an earlier one. A fenced
 * reader's exchange and the writer's seq_cst store and loads are in one
 * total order, and for a fenceless reader the membarrier stands in for its
 * fence: either way its load of li comes after the store, so it reads the
 * copy just published and the next write need not wait for it. A reader
 * preempted inside a view (of the copy just published, as nearly every
 * view at the next write is) thus no longer holds that write up.
 */
static void published_arrivals(struct native_writer *nw)
{
	active_refresh(nw);
	for (unsigned k = 0; k < nw->n_active && !nw->barrier_down; k++) {
		struct wslot *ws = &nw->slots[nw->active[k]];
		if (ws->kind != SLOT_FREE && atomic_load(&ws->s->mode) == SLOT_MODE_FENCELESS) {
			if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0))
				barrier_down(nw, errno);
			else
				atomic_fetch_add(&nw->h->membarriers, 1);
			break;
		}
	}
	for (unsigned k = 0; k < nw->n_active; k++) {
		struct wslot *ws = &nw->slots[nw->active[k]];
		ws->published_seq = ws->kind == SLOT_FREE ||
				    (nw->barrier_down &&
				     atomic_load(&ws->s->mode) == SLOT_MODE_FENCELESS) ? 0 : nw->seq;
		if (ws->published_seq)
			ws->published_arrival = atomic_load(&ws->s->arrived);
	}
}

static void publish(struct native_writer *nw, unsigned c, size_t len, unsigned evicted,
		    struct mmsync_write_info *info)
{
	uint64_t hash = nw->checksum ? mmsync_hash(nw->fill->seg[c].map, len) : 0;
	uint64_t version = (uint64_t)c | (uint64_t)len << 1 | (hash & 0xffffff) << 40;
	if (nw->fill == &nw->next)
		generation_commit(nw);
	nw->seq++;
	nw->h->copy[c] = (struct native_copy_desc){ version, nw->seq, nw->generation };
	atomic_store(&nw->h->li, c); /* publish: seq_cst orders the copy before it */
	nw->pending = true;
	published_arrivals(nw);

	atomic_store(&nw->h->seq, nw->seq);
	atomic_store(&nw->h->version, version);
	atomic_store(&nw->h->last_publish_ns, now_ns(CLOCK_REALTIME));
	refresh_figures(nw, false);
	if (info)
		*info = (struct mmsync_write_info){
			.written = len, .version = version, .seq = nw->seq, .evicted = evicted,
		};
}

/*
 * A plain memcpy into the prefaulted copy. Measured with tools/bench_write.c
 * on this 2-core machine, 64 MiB, medians of 33 rounds over 5 runs: 4 MiB
 * pieces each preceded by a prefetch of the next are 5-20 % slower; two
 * threads copying half each are 24-77 % faster, but they take the second
 * core from the readers, which a writer must not do behind their back.
 * mmsync_write() reaches 0.93-1.24 of memcpy from 1 MiB up as it is.
 */
int native_write(struct native_writer *nw, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info)
{
	unsigned c, evicted;
	int err = prepare(nw, len, grace_ns, &c, &evicted);
	if (err)
		return err;
	if (len)
		memcpy(nw->fill->seg[c].map, data, len);
	publish(nw, c, len, evicted, info);
	return 0;
}

#define DIRECT_ALIGN 4096

int native_write_from_fd(struct native_writer *nw, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	bool direct = fl & O_DIRECT;
	/* O_DIRECT reads whole blocks: the copy needs room for the rounding. */
	uint64_t room = direct ? round_up(len, DIRECT_ALIGN) : len;
	if (direct && offset >= 0 && offset % DIRECT_ALIGN)
		return -EINVAL;

	unsigned c, evicted;
	int err = prepare(nw, room, grace_ns, &c, &evicted);
	if (err)
		return err;
	err = uring_read_into(&nw->ring, fd, offset, nw->fill->seg[c].map, len, nw->chunk,
			      nw->depth, direct, DIRECT_ALIGN);
	if (err) {
		native_write_abort(nw); /* the current version and generation stand */
		return err;
	}
	publish(nw, c, len, evicted, info);
	return 0;
}

int native_write_begin(struct native_writer *nw, size_t len, uint64_t grace_ns, void **ptr)
{
	int err = prepare(nw, len, grace_ns, &nw->build, &nw->build_evicted);
	if (!err)
		*ptr = nw->fill->seg[nw->build].map;
	return err;
}

int native_write_commit(struct native_writer *nw, size_t len, struct mmsync_write_info *info)
{
	publish(nw, nw->build, len, nw->build_evicted, info);
	return 0;
}

/* The copy filled stays the writer's; larger copies made for the write
 * are dropped, never seen by a reader. */
void native_write_abort(struct native_writer *nw)
{
	if (nw->fill == &nw->next)
		copies_destroy(&nw->next);
	nw->fill = &nw->cur;
}

/* ---- creation ---- */

/* The header: a sealed memfd that readers map; and, when BPF is allowed
 * (the default), a mirror in a BPF map pinned with the metrics iterator
 * (see bpf_state.h for why readers cannot map the BPF map itself). */
static int state_create(struct native_writer *nw, unsigned flags)
{
	int err = segment_create(&nw->state, nw->name, SEG_MEMFD, NULL, NATIVE_STATE_SIZE,
				 NATIVE_SEALS_COPY);
	if (err)
		return err;
	nw->h = nw->state.map;
	/* Held while the writer lives: readers probe it (mmsync_reader_check()). */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(nw->state.fd, F_OFD_SETLK, &fl))
		return -errno;
	if (flags & MMSYNC_BPF_OFF)
		return 0;
	err = bpf_state_create(&nw->bpf, nw->name, flags & MMSYNC_KEEP_PINS, &nw->mirror);
	if (!err)
		return 0;
	if (flags & MMSYNC_BPF_REQUIRE) {
		logf_(nw, "no BPF state map: %s%s", strerror(-err),
		      err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		return err;
	}
	if (err == -EEXIST) {
		logf_(nw, "a live writer has pinned %s/%s", BPF_PIN_ROOT, nw->name);
		return err;
	}
	nw->bpf = NULL;
	nw->mirror = NULL;
	return 0; /* figures from user space only: mmsync stat */
}

static struct native_writer *nw_of(struct mmsync_writer *w)
{
	return w ? w->native : NULL;
}

void native_writer_close(struct native_writer *nw)
{
	if (!nw)
		return;
	if (nw->slots)
		for (unsigned i = nw->max_readers; i < nr_slots(nw); i++)
			if (nw->slots[i].kind == SLOT_OWN)
				slot_reclaim(nw, i, 0);
	if (nw->h) { /* no live writer: kept pins say so, and a new writer may take them */
		atomic_store(&nw->h->writer_pid, 0);
		mirror_sync(nw);
	}
	if (nw->listen_fd >= 0)
		close(nw->listen_fd);
	if (nw->sock_path)
		unlink(nw->sock_path);
	if (nw->epoll >= 0)
		close(nw->epoll);
	copies_destroy(&nw->cur);
	copies_destroy(&nw->next);
	if (nw->state_ro >= 0)
		close(nw->state_ro);
	segment_destroy(&nw->state);
	bpf_state_destroy(nw->bpf);
	segment_destroy(&nw->table);
	uring_exit(&nw->ring);
	free(nw->slots);
	free(nw->active);
	free(nw->sock_path);
	free(nw->allow_uids);
	free(nw->allow_gids);
	free(nw->hugetlbfs_dir);
	free(nw);
}


int mmsync_writer_create(struct mmsync_writer **wp, const char *name,
			 const struct mmsync_native_opts *opts)
{
	int err;

	if (!wp)
		return -EINVAL;
	*wp = NULL;
	if (!opts_valid(opts, sizeof(*opts)) || native_name_valid(name))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	unsigned max_readers = OPTS_GET(opts, max_readers, 0);
	uint64_t capacity = OPTS_GET(opts, capacity, 0);
	const char *dir = OPTS_GET(opts, hugetlbfs_dir, NULL);
	if ((flags & ~(MMSYNC_HUGETLB | MMSYNC_CHECKSUM | MMSYNC_BPF_OFF | MMSYNC_BPF_REQUIRE |
		       MMSYNC_KEEP_PINS)) ||
	    (flags & MMSYNC_BPF_OFF && flags & (MMSYNC_BPF_REQUIRE | MMSYNC_KEEP_PINS)) ||
	    max_readers > NATIVE_MAX_READERS ||
	    OPTS_GET(opts, queue_depth, 0) > 4096 || OPTS_GET(opts, chunk_size, 0) > (1u << 30) ||
	    capacity > MMSYNC_MAX_PAYLOAD + 1 || ((flags & MMSYNC_HUGETLB) && dir))
		return -EINVAL;

	struct native_writer *nw = calloc(1, sizeof(*nw));
	struct mmsync_writer *w = writer_alloc();
	if (!nw || !w) {
		free(nw);
		free(w);
		return -ENOMEM;
	}
	w->native = nw;
	snprintf(nw->name, sizeof(nw->name), "%s", name);
	nw->state = nw->table = (struct segment){ .fd = -1 };
	nw->cur = nw->next = no_copies;
	nw->fill = &nw->cur;
	nw->state_ro = nw->epoll = nw->listen_fd = -1;
	nw->kind = dir ? SEG_HUGETLBFS : (flags & MMSYNC_HUGETLB) ? SEG_HUGETLB : SEG_MEMFD;
	nw->max_readers = max_readers ? max_readers : NATIVE_DEFAULT_READERS;
	nw->log = OPTS_GET(opts, log, NULL);
	nw->log_ctx = OPTS_GET(opts, log_ctx, NULL);
	nw->checksum = flags & MMSYNC_CHECKSUM;
	nw->chunk = OPTS_GET(opts, chunk_size, 0);
	nw->depth = OPTS_GET(opts, queue_depth, 0);
	nw->chunk = nw->chunk ? round_up(nw->chunk, DIRECT_ALIGN) : DEFAULT_CHUNK;
	nw->depth = nw->depth ? nw->depth : DEFAULT_DEPTH;
	uring_init(&nw->ring, nw->depth > 8 ? nw->depth : 8);
	nw->generation = 1;
	if (dir && !(nw->hugetlbfs_dir = strdup(dir))) {
		err = -ENOMEM;
		goto fail;
	}

	nw->page = segment_page_size(nw->kind, dir);
	if (nw->page < 0) {
		err = (int)nw->page;
		if (nw->kind != SEG_MEMFD)
			logf_(nw, "no huge pages here (%s)", strerror(-err));
		goto fail;
	}
	capacity = round_up(capacity ? capacity : NATIVE_DEFAULT_CAPACITY, nw->page);

	if ((err = state_create(nw, flags)))
		goto fail;
	nw->h->magic = NATIVE_MAGIC;
	nw->h->layout_version = NATIVE_LAYOUT_VERSION;
	nw->h->header_size = sizeof(*nw->h);
	nw->h->max_readers = nw->max_readers;
	nw->h->generation = nw->generation;
	nw->h->capacity = capacity;
	nw->h->copy[0].generation = nw->h->copy[1].generation = nw->generation;
	nw->h->writer_pid = (uint32_t)getpid();
	nw->h->flags = nw->checksum ? NATIVE_HDR_CHECKSUM : 0;
	/* Readers may go fenceless only if this writer can issue the barrier
	 * that stands in for their fence (seccomp may forbid it). */
	nw->barrier_down = syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0;
	nw->h->fenceless_ok = !nw->barrier_down;
	snprintf(nw->h->name, sizeof(nw->h->name), "%s", name);
	if ((err = copies_create(nw, capacity, &nw->cur)))
		goto fail;
	if ((nw->state_ro = segment_reopen(nw->state.fd, O_RDONLY)) < 0) {
		err = nw->state_ro;
		goto fail;
	}

	size_t table_len = round_up(nw->max_readers * sizeof(struct native_slot), sysconf(_SC_PAGESIZE));
	if ((err = segment_create(&nw->table, name, SEG_MEMFD, NULL, table_len, NATIVE_SEALS_SIZE)))
		goto fail;
	nw->slots = calloc(nr_slots(nw), sizeof(*nw->slots));
	nw->active = calloc(nr_slots(nw), sizeof(*nw->active));
	if (!nw->slots || !nw->active) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < nr_slots(nw); i++) {
		nw->slots[i] = (struct wslot){ .conn = -1, .obj = { .fd = -1 } };
		if (i < nw->max_readers) {
			nw->slots[i].kind = SLOT_TABLE;
			nw->slots[i].s = (struct native_slot *)nw->table.map + i;
		}
	}
	nw->epoll = epoll_create1(EPOLL_CLOEXEC);
	if (nw->epoll < 0) {
		err = -errno;
		goto fail;
	}
	mirror_sync(nw);
	*wp = w;
	return 0;
fail:
	mmsync_writer_close(w);
	return err;
}

int mmsync_writer_export_fds(struct mmsync_writer *w, int fds[MMSYNC_NR_FDS])
{
	struct native_writer *nw = nw_of(w);
	if (!nw || !fds)
		return -EINVAL;
	int src[MMSYNC_NR_FDS] = { nw->state_ro, nw->cur.ro[0], nw->cur.ro[1], nw->table.fd };
	nw->table_used = nw->active_dirty = true;
	for (int i = 0; i < MMSYNC_NR_FDS; i++) {
		/* The table: a description of its own for this set, so that a
		 * reader that cannot reopen it (no /proc) still locks its slot
		 * apart from the writer's probes and from other sets. The
		 * others are read-only descriptions, shared. */
		fds[i] = i == MMSYNC_FD_SLOTS ? segment_reopen(src[i], O_RDWR)
					      : fcntl(src[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0) {
			int err = i == MMSYNC_FD_SLOTS ? fds[i] : -errno;
			while (i--)
				close(fds[i]);
			return err;
		}
	}
	return 0;
}

/* ---- serving ---- */

static bool peer_allowed(struct native_writer *nw, const struct ucred *cr)
{
	if (!nw->n_uids && !nw->n_gids)
		return cr->uid == geteuid() || cr->uid == 0;
	for (size_t i = 0; i < nw->n_uids; i++)
		if (nw->allow_uids[i] == cr->uid)
			return true;
	for (size_t i = 0; i < nw->n_gids; i++)
		if (nw->allow_gids[i] == cr->gid)
			return true;
	return false;
}

static void refuse(struct native_writer *nw, int conn, int error)
{
	struct native_msg m;
	fill_msg(nw, &m, NATIVE_MSG_HELLO);
	m.error = error;
	m.nr_fds = 0;
	fdpass_send(conn, &m, sizeof(m), NULL, 0);
	close(conn);
}

/* A new reader: its own slot object, read-locked on a description made for
 * it alone, sent with read-only descriptions of the header and the copies.
 * Return: false when no connection was waiting. */
static bool accept_reader(struct native_writer *nw)
{
	int conn = accept4(nw->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn < 0)
		return errno == EINTR || errno == ECONNABORTED;

	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) || !peer_allowed(nw, &cr)) {
		logf_(nw, "refused peer pid %d uid %u gid %u: not in the allow-list", (int)cr.pid,
		      (unsigned)cr.uid, (unsigned)cr.gid);
		refuse(nw, conn, EACCES);
		return true;
	}
	unsigned i;
	for (i = nw->max_readers; i < nr_slots(nw); i++)
		if (nw->slots[i].kind == SLOT_FREE)
			break;
	if (i == nr_slots(nw)) {
		logf_(nw, "refused peer pid %d: all %u reader slots in use", (int)cr.pid, nw->max_readers);
		refuse(nw, conn, EUSERS);
		return true;
	}

	struct wslot *ws = &nw->slots[i];
	int theirs = -1;
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int err = segment_create(&ws->obj, nw->name, SEG_MEMFD, NULL, sysconf(_SC_PAGESIZE),
				 NATIVE_SEALS_SIZE);
	if (!err && (theirs = segment_reopen(ws->obj.fd, O_RDWR)) < 0)
		err = theirs;
	if (!err && fcntl(theirs, F_OFD_SETLK, &fl))
		err = -errno;
	if (!err) {
		struct native_msg m;
		fill_msg(nw, &m, NATIVE_MSG_HELLO);
		m.slot_index = i - nw->max_readers;
		int fds[4] = { nw->state_ro, nw->cur.ro[0], nw->cur.ro[1], theirs };
		err = fdpass_send(conn, &m, sizeof(m), fds, 4);
	}
	if (theirs >= 0)
		close(theirs); /* the reader holds the only other reference now */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = i };
	if (!err && epoll_ctl(nw->epoll, EPOLL_CTL_ADD, conn, &ev))
		err = -errno;
	if (err) {
		logf_(nw, "could not serve peer pid %d: %s", (int)cr.pid, strerror(-err));
		segment_destroy(&ws->obj);
		close(conn);
		return true;
	}
	ws->kind = SLOT_OWN;
	nw->active_dirty = true;
	ws->s = ws->obj.map;
	ws->conn = conn;
	ws->evicted_arrival = 0;
	ws->published_seq = 0;
	ws->probed_ns = 0;
	return true;
}

/* Readers send nothing: data, an error or a hang-up ends the connection.
 * A dead reader's slot is taken back; a live reader is revoked. */
static void connection_event(struct native_writer *nw, unsigned i)
{
	struct wslot *ws = &nw->slots[i];
	char buf[64];

	if (i < nw->max_readers || i >= nr_slots(nw) || ws->kind != SLOT_OWN || ws->conn < 0)
		return;
	ssize_t n = recv(ws->conn, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	slot_drop(nw, i, n > 0 ? "sent data" : "hung up");
}

int mmsync_writer_dispatch(struct mmsync_writer *w)
{
	struct native_writer *nw = nw_of(w);
	struct epoll_event ev[32];

	if (!nw)
		return -EINVAL;
	for (;;) {
		int n = epoll_wait(nw->epoll, ev, 32, 0);
		if (n <= 0)
			break;
		for (int k = 0; k < n; k++) {
			if (ev[k].data.u32 == UINT32_MAX)
				while (accept_reader(nw)) /* every connection queued */
					;
			else
				connection_event(nw, ev[k].data.u32);
		}
		if (n < 32)
			break;
	}
	refresh_figures(nw, true);
	return 0;
}

int mmsync_writer_fd(struct mmsync_writer *w)
{
	struct native_writer *nw = nw_of(w);
	return nw ? nw->epoll : -EINVAL;
}

/* The socket systemd passed (LISTEN_PID, LISTEN_FDS): fd 3, a listening
 * Unix SOCK_SEQPACKET socket. */
static int systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int type = 0, listening = 0;
	struct sockaddr_un sa;
	socklen_t len = sizeof(type), salen = sizeof(sa);

	if (!pid || !n || atol(pid) != (long)getpid() || atoi(n) < 1)
		return -ENOTSOCK;
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || !listening ||
	    getsockname(3, (struct sockaddr *)&sa, &salen) || sa.sun_family != AF_UNIX)
		return -ENOTSOCK;
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

/* A socket file left by a writer that died: nobody answers it. */
static bool socket_stale(const struct sockaddr_un *sa, socklen_t len)
{
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool stale = probe >= 0 && connect(probe, (const struct sockaddr *)sa, len) &&
		     errno == ECONNREFUSED;
	if (probe >= 0)
		close(probe);
	return stale;
}

static int bind_listen(struct native_writer *nw, const char *path, unsigned mode)
{
	struct sockaddr_un sa;
	socklen_t len;
	bool abstract = path[0] == '@';
	int err = fdpass_addr(path, &sa, &len);
	if (err)
		return err;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = bind(fd, (struct sockaddr *)&sa, len);
	if (r && errno == EADDRINUSE && !abstract && socket_stale(&sa, len)) {
		unlink(path);
		r = bind(fd, (struct sockaddr *)&sa, len);
	}
	/* Before listen(): nobody can connect while the mode is being set. */
	if (r || (!abstract && chmod(path, mode)) || listen(fd, 64)) {
		err = -errno;
		if (r == 0 && !abstract)
			unlink(path);
		close(fd);
		return err;
	}
	if (!abstract && !(nw->sock_path = strdup(path))) {
		unlink(path);
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

int mmsync_writer_listen(struct mmsync_writer *w, const char *path,
			 const struct mmsync_listen_opts *opts)
{
	struct native_writer *nw = nw_of(w);

	if (!nw || !opts_valid(opts, sizeof(*opts)))
		return -EINVAL;
	if (nw->listen_fd >= 0)
		return -EBUSY;
	size_t nu = OPTS_GET(opts, n_allow_uids, 0), ng = OPTS_GET(opts, n_allow_gids, 0);
	const uid_t *uids = OPTS_GET(opts, allow_uids, NULL);
	const gid_t *gids = OPTS_GET(opts, allow_gids, NULL);
	unsigned mode = OPTS_GET(opts, mode, 0);
	if ((nu && !uids) || (ng && !gids) || mode > 07777)
		return -EINVAL;
	uid_t *u = nu ? malloc(nu * sizeof(*uids)) : NULL;
	gid_t *g = ng ? malloc(ng * sizeof(*gids)) : NULL;
	int fd = (nu && !u) || (ng && !g) ? -ENOMEM
		 : path ? bind_listen(nw, path, mode ? mode : 0660) : systemd_socket();
	if (fd < 0) {
		free(u);
		free(g);
		return fd;
	}
	if (nu)
		memcpy(u, uids, nu * sizeof(*uids));
	if (ng)
		memcpy(g, gids, ng * sizeof(*gids));
	nw->allow_uids = u;
	nw->allow_gids = g;
	nw->n_uids = nu;
	nw->n_gids = ng;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	if (epoll_ctl(nw->epoll, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;
		close(fd);
		return err;
	}
	nw->listen_fd = fd;
	return 0;
}
