/* SPDX-License-Identifier: MIT */
/*
 * The writer of the native layout: its copies and their generations, the
 * writer's steps of a publish, and creation. The steps, in order
 * (docs/protocol.md): prepare() runs the deferred waits of the previous
 * publish (WAIT-NEXT, FLIP, WAIT-OLD, in native_slots.c), REVOKE-FENCELESS
 * and the release fence; the caller's bytes go in (FILL); publish() runs
 * COMMIT-GENERATION, PUBLISH, BARRIER and NOTE. Reader slots and the waits
 * are in native_slots.c, the socket in native_serve.c.
 *
 * Generations. A payload larger than the copies is written into two new,
 * larger ones (nw->next), private until that write publishes: only then
 * are readers sent them, the header changed and new readers handed them
 * (generation_commit()). A growing write that fails or is aborted changes
 * nothing any reader sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#include "fdpass.h"
#include "fds.h"
#include "hash.h"
#include "native_writer.h"
#include "opts.h"

/* write_from_fd: 1 MiB a request, 4 in flight. Over 5 runs of the sweep in
 * tools/bench/write_paths.c (256 KiB..4 MiB x depth 1..8, 256 MiB from the
 * page cache) these were 90-100 % of the best of the 9 settings, and the
 * best changed from run to run: all lie within the machine's noise. */
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_DEPTH 4

void logf_(struct native_writer *nw, const char *fmt, ...)
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

/* ---- copies and generations ---- */

size_t round_up(uint64_t n, long page)
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

void fill_msg(struct native_writer *nw, struct native_msg *m, unsigned type)
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

/* The copy filled stays the writer's; larger copies made for the write
 * are dropped, never seen by a reader. */
static void drop_next(struct native_writer *nw)
{
	if (nw->fill == &nw->next)
		copies_destroy(&nw->next);
	nw->fill = &nw->cur;
}

/* The generation takes effect, right before the store of li that publishes
 * its first version; the caller holds nw->lock from here through that store
 * (native_service.c, rule 4), so that a handshake hands out the old
 * generation before, to a reader sent the new one here, or the new one
 * after. Connected readers, pending ones first adopted, get the new
 * descriptors before any version names them, so that a reader that sees
 * the new generation in a descriptor finds them already queued on its
 * socket; a live reader that cannot be sent them is revoked, a dead one
 * marked to be taken back once the lock is dropped. Readers still on an
 * old copy keep their own mapping of it; the writer never writes an old
 * copy again. Return: the old copies, for the caller to destroy after. */
static struct copies generation_commit(struct native_writer *nw)
{
	struct copies old = nw->cur;

	adopt_locked(nw);
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
		if (err && slot_drop_live(nw, i, "could not be sent a generation"))
			ws->reclaim_due = true;
	}
	atomic_store(&nw->h->populated[0], nw->cur.populated[0]);
	atomic_store(&nw->h->populated[1], nw->cur.populated[1]);
	atomic_store(&nw->h->capacity, nw->cur.capacity);
	atomic_store(&nw->h->generation, nw->generation);
	return old;
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

/* Everything before the bytes go in: the waits of the last publish, the
 * copies of a new generation if @room bytes do not fit, the copy
 * prefaulted. Return: 0 with *cp the copy of nw->fill to fill, or -errno
 * with nothing published and nothing visible changed. */
static int prepare(struct native_writer *nw, uint64_t room, uint64_t grace_ns, unsigned *cp,
		   unsigned *evicted)
{
	int err;

	adopt(nw); /* readers served since: into the waits (native_service.c) */
	*evicted = finish_waits(nw, grace_ns);
	if (nw->barrier_down)
		fenceless_revoke(nw);
	/* Counts bumped (EVICT, REVOKE, REVOKE-FENCELESS) before any byte of
	 * the FILL: the writer's half of the seqlock (docs/protocol.md). */
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
		drop_next(nw);
	return err;
}

static void publish(struct native_writer *nw, unsigned c, size_t len, unsigned evicted,
		    struct mmsync_write_info *info)
{
	uint64_t hash = nw->checksum ? mmsync_hash(nw->fill->seg[c].map, len) : 0;
	uint64_t version = (uint64_t)c | (uint64_t)len << 1 | (hash & 0xffffff) << 40;
	bool grows = nw->fill == &nw->next;
	struct copies old = no_copies;
	if (grows) {
		pthread_mutex_lock(&nw->lock);
		old = generation_commit(nw);
	}
	nw->seq++;
	nw->h->copy[c] = (struct native_copy_desc){ version, nw->seq, nw->generation };
	atomic_store(&nw->h->li, c); /* PUBLISH: seq_cst orders the copy before it */
	if (grows) {
		pthread_mutex_unlock(&nw->lock);
		copies_destroy(&old);
		for (unsigned i = nw->max_readers; i < nr_slots(nw); i++)
			if (nw->slots[i].reclaim_due)
				slot_reclaim(nw, i, 0);
	} else {
		adopt(nw); /* after the store of li (native_service.c, rule 3) */
	}
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
 * A plain memcpy into the prefaulted copy. Measured with
 * tools/bench/write_copies.c on this 2-core machine, 64 MiB, medians of 33
 * rounds over 5 runs: 4 MiB pieces each preceded by a prefetch of the next
 * are 5-20 % slower; two threads copying half each are 24-77 % faster, but
 * they take the second core from the readers, which a writer must not do
 * behind their back.
 * mmsync_write() reaches 0.93-1.24 of memcpy from 1 MiB up as it is.
 */
int native_write(struct native_writer *nw, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info)
{
	unsigned c, evicted;
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, len, grace_ns, &c, &evicted))) {
		if (len)
			memcpy(nw->fill->seg[c].map, data, len);
		publish(nw, c, len, evicted, info);
	}
	writer_exit(nw);
	return err;
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
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, room, grace_ns, &c, &evicted))) {
		err = uring_read_into(&nw->ring, fd, offset, nw->fill->seg[c].map, len, nw->chunk,
				      nw->depth, direct, DIRECT_ALIGN);
		if (err)
			drop_next(nw); /* the current version and generation stand */
		else
			publish(nw, c, len, evicted, info);
	}
	writer_exit(nw);
	return err;
}

int native_write_begin(struct native_writer *nw, size_t len, uint64_t grace_ns, void **ptr)
{
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, len, grace_ns, &nw->build, &nw->build_evicted)))
		*ptr = nw->fill->seg[nw->build].map;
	writer_exit(nw);
	return err;
}

int native_write_commit(struct native_writer *nw, size_t len, struct mmsync_write_info *info)
{
	int err = writer_enter(nw);
	if (err)
		return err;
	publish(nw, nw->build, len, nw->build_evicted, info);
	writer_exit(nw);
	return 0;
}

int native_write_abort(struct native_writer *nw)
{
	int err = writer_enter(nw);
	if (err)
		return err; /* a forked child's copy: nothing of the parent's to drop */
	drop_next(nw);
	writer_exit(nw);
	return 0;
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
		const char *why = err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)"
				  : err == -ENOSYS ? " (this libmmsync was built without BPF)"
				  : "";
		logf_(nw, "no BPF state map: %s%s", strerror(-err), why);
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

static void writer_free(struct native_writer *nw)
{
	free(nw->slots);
	free(nw->active);
	free(nw->sock_path);
	free(nw->allow_uids);
	free(nw->allow_gids);
	free(nw->hugetlbfs_dir);
	free(nw);
}

/* Whether this process may undo what the writer made for all: the socket
 * file, the pins, the header's writer_pid. Only the writer's process (the
 * one the header names: its maker, or a child that took it over), or any
 * holder once that process has gone. Not a forked child's unused copy. */
static bool owns_shared(struct native_writer *nw)
{
	if (!nw->h)
		return true; /* nothing made for others yet */
	if (nw_forked(nw))
		return false;
	pid_t p = (pid_t)atomic_load(&nw->h->writer_pid);
	return p == getpid() || p <= 0 || (kill(p, 0) && errno == ESRCH);
}

/*
 * Close in a process that is not the writer's (mmsync.h, "fork()"): lets
 * go of this process's references (descriptors, mappings, memory) and
 * touches nothing the writer's process uses: no socket unlinked, no pin
 * removed, nothing stored in the header, no connection taken off the epoll
 * set both share, no lock of the writer's taken (the parent's service
 * thread may have been in a section at the fork). With that thread running
 * at the fork, slots and connections may have been mid-change in this copy:
 * their descriptors are left, close-on-exec, for the process's exit or exec
 * to drop.
 */
static void release_copy(struct native_writer *nw)
{
	for (unsigned i = nw->max_readers; nw->slots && !nw->serving && i < nr_slots(nw); i++) {
		struct wslot *ws = &nw->slots[i];
		if (ws->kind == SLOT_OWN && ws->conn >= 0)
			close(ws->conn);
		if (ws->kind == SLOT_OWN)
			segment_destroy(&ws->obj);
	}
	for (unsigned k = 0; !nw->serving && k < nw->n_pend; k++) {
		close(nw->pend[k].conn);
		segment_destroy(&nw->pend[k].obj);
	}
	listening_remove(nw); /* this process's fork handlers must not find it freed */
	if (nw->listen_fd >= 0)
		close(nw->listen_fd);
	if (nw->epoll >= 0)
		close(nw->epoll);
	if (nw->stop_fd >= 0)
		close(nw->stop_fd);
	copies_destroy(&nw->cur);
	copies_destroy(&nw->next);
	if (nw->state_ro >= 0)
		close(nw->state_ro);
	segment_destroy(&nw->state); /* the header's lock stays: the writer's description */
	bpf_state_release(nw->bpf);
	segment_destroy(&nw->table);
	uring_exit(&nw->ring);
	if (nw->fork_guard)
		munmap(nw->fork_guard, (size_t)sysconf(_SC_PAGESIZE));
	free(nw->taken);
	free(nw->pend);
	writer_free(nw);
}

void native_writer_close(struct native_writer *nw)
{
	if (!nw)
		return;
	if (!owns_shared(nw)) {
		release_copy(nw);
		return;
	}
	service_stop(nw);
	listening_remove(nw); /* no handshake from here on */
	if (nw->lock_ok)
		adopt(nw); /* readers served but not adopted: taken back below */
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
	service_fini(nw);
	writer_free(nw);
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
	if ((err = service_init(nw)))
		goto fail;
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
	if (nw->barrier_down)
		logf_(nw, "membarrier: %s: readers will read fenced", strerror(errno));
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
	nw->epoll = fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
	if (nw->epoll < 0) {
		err = nw->epoll;
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
	int err = writer_enter(nw);
	if (err)
		return err;
	int src[MMSYNC_NR_FDS] = { nw->state_ro, nw->cur.ro[0], nw->cur.ro[1], nw->table.fd };
	nw->table_used = nw->active_dirty = true;
	writer_exit(nw); /* the rest is this call's own */
	for (int i = 0; i < MMSYNC_NR_FDS; i++) {
		/* The table: a description of its own for this set, so that a
		 * reader that cannot reopen it (no /proc) still locks its slot
		 * apart from the writer's probes and from other sets. The
		 * others are read-only descriptions, shared. */
		fds[i] = i == MMSYNC_FD_SLOTS ? segment_reopen(src[i], O_RDWR)
					      : fcntl(src[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0) {
			err = i == MMSYNC_FD_SLOTS ? fds[i] : -errno;
			while (i--)
				close(fds[i]);
			return err;
		}
	}
	return 0;
}
