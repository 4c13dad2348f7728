/* SPDX-License-Identifier: MIT */
/*
 * The writer's side of the read protocol (docs/protocol.md): reader slots,
 * the waits of a publish (WAIT-NEXT, FLIP, WAIT-OLD) and what they pass
 * over, RECLAIM, EVICT and REVOKE, the BARRIER fenceless readers need and
 * its failure (REVOKE-FENCELESS), the NOTE after each publish, and the
 * figures read from the slots.
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
 * across pid namespaces and sandboxes (RECLAIM). Only then: a reader whose
 * connection fails while it lives is revoked (slot_revoke()), its slot kept.
 *
 * EVICT needs no barrier: the bump, prepare()'s release fence and the fill
 * against the reader's DEPART, acquire fence and CHECK are a seqlock's two
 * sides, so a view that saw any byte of the fill sees the bump.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "native_writer.h"

#define SPIN_NS 20000ull		/* spin this long before probing and sleeping */
#define PROBE_INTERVAL_NS 1000000ull	/* re-probe a live, busy slot every ms */
#define TABLE_PROBE_NS 100000000ull	/* dispatch probes the table every 100 ms */

/* ---- slots and liveness ---- */


/* True while the reader of slot @i holds its lock: alive. */
bool slot_alive(struct native_writer *nw, unsigned i)
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
void active_refresh(struct native_writer *nw)
{
	if (!nw->active_dirty)
		return;
	nw->n_active = 0;
	for (unsigned i = 0; i < nr_slots(nw); i++)
		if ((nw->slots[i].kind == SLOT_TABLE && nw->table_used) || nw->slots[i].kind == SLOT_OWN)
			nw->active[nw->n_active++] = i;
	nw->active_dirty = false;
	nw->cand_seq = 0; /* a slot came or went since the NOTE */
}

/* RECLAIM: takes back the slot of a reader that has gone: counted as a
 * disconnect if it said it closed, else as dead. A table slot keeps its place but
 * loses the dead reader's arrival, @seen, loaded before the probe that
 * found the slot unlocked: a reader may have claimed the slot since and
 * arrived, and its arrival (another value) must stay. */
void slot_reclaim(struct native_writer *nw, unsigned i, uint64_t seen)
{
	nw->active_dirty = true;
	struct wslot *ws = &nw->slots[i];

	if (atomic_exchange(&ws->s->closed, 0))
		atomic_fetch_add(&nw->h->disconnects, 1);
	else
		atomic_fetch_add(&nw->h->reclaimed, 1);
	if (ws->kind == SLOT_OWN) {
		if (ws->conn >= 0) {
			hello_forget(nw, i);
			epoll_ctl(nw->epoll, EPOLL_CTL_DEL, ws->conn, NULL);
			close(ws->conn);
		}
		segment_destroy(&ws->obj);
		*ws = (struct wslot){ .kind = SLOT_FREE, .conn = -1, .obj = { .fd = -1 } };
		own_release(nw, i); /* the slot table changes: under the lock */
	} else {
		atomic_compare_exchange_strong(&ws->s->arrived, &seen, 0);
		ws->evicted_arrival = 0;
		ws->published_seq = 0;
	}
}

/* EVICT: bumps the slot's eviction count: its open view, if any, ends in -ESTALE
 * (see the eviction comment at the top), and its next begin takes the
 * library's path. The fill that follows is ordered after it by prepare(). */
static void slot_evict(struct native_writer *nw, unsigned i, uint64_t arrival)
{
	struct wslot *ws = &nw->slots[i];
	ws->evicted_arrival = arrival;
	atomic_fetch_add(&ws->s->evictions, 1);
	atomic_fetch_add(&nw->h->evictions, 1);
}

/* REVOKE: drops a reader whose connection failed (it sent data, hung up, or could
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
		hello_forget(nw, i);
		epoll_ctl(nw->epoll, EPOLL_CTL_DEL, ws->conn, NULL);
		close(ws->conn);
		ws->conn = -1;
	}
	ws->revoked = true;
	atomic_store(&ws->s->revoked, 1);
	atomic_fetch_add(&ws->s->evictions, 1);
}

/* A connected reader whose connection failed: revoked if alive. Return:
 * true if it is dead, its slot to take back (slot_reclaim()). */
bool slot_drop_live(struct native_writer *nw, unsigned i, const char *why)
{
	if (!slot_alive(nw, i))
		return true;
	slot_revoke(nw, i, why);
	return false;
}

/* A connected reader whose connection failed: reclaimed if dead, else
 * revoked. */
void slot_drop(struct native_writer *nw, unsigned i, const char *why)
{
	if (slot_drop_live(nw, i, why))
		slot_reclaim(nw, i, atomic_load(&nw->slots[i].s->arrived));
}

/* Notes slot @ws's arrival as the writer sees it now. Return: the arrival
 * if the slot holds up a wait on indicator @x, else 0 when a pass-over rule
 * of docs/protocol.md applies. The clock of a slot
 * (seen_ns) starts when the writer first sees an arrival; it is not
 * restarted by further arrivals on x within the same wait, so that a
 * reader cannot buy itself a new grace period by arriving again. */
/* The clock of the waits of one write, read only when a slot needs it: a
 * read costs 20-40 ns on this VM, and five a write were 60 % of a 36-byte
 * write (perf record -e cpu-clock). */
struct wait_clock {
	uint64_t now;	/* 0: not read since the last pause */
	uint64_t hard;	/* the hard deadline; 0: no slot has held a wait yet */
};

static uint64_t clock_now(struct wait_clock *wc)
{
	if (!wc->now)
		wc->now = now_ns(CLOCK_MONOTONIC);
	return wc->now;
}

static uint64_t slot_on(struct wslot *ws, unsigned x, unsigned cur, uint64_t seq,
			struct wait_clock *wc)
{
	if (ws->kind == SLOT_FREE)
		return 0;
	/* NOTE saw it not arrived, or arrived on the other indicator: the
	 * value it had then is not on x, and any other is new since the note.
	 * Passed over from the writer's own memory: the slot's line is a page
	 * of its own, a cache and TLB miss with many readers (the clock below
	 * then starts at a later look, never sooner). */
	if (ws->published_seq == seq &&
	    (!ws->published_arrival || arrived_indicator(ws->published_arrival) != x))
		return 0;
	uint64_t a = atomic_load(&ws->s->arrived);
	if (a != ws->seen_arrival) {
		bool on_x = a && arrived_indicator(a) == x;
		if (!on_x || ws->arrivals++ == 0)
			ws->seen_ns = clock_now(wc);
		ws->seen_arrival = a;
	}
	if (!a || arrived_indicator(a) != x || a == ws->evicted_arrival)
		return 0;
	/* Arrived since the publish: it loads li after the writer's store (see
	 * publish_scan()), so it reads the current copy. */
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
 * again. Whatever the slots do, 2 * @grace_ns after the first slot held a
 * wait of this write (wc->hard), every slot still there is evicted.
 *
 * It looks at the slots NOTE did not see idle (nw->cand), unless a slot
 * came or went since: slot_on() passes over the others from the writer's
 * own memory anyway, and a pass over every slot costs ~1.5 ns a slot with
 * 1000 slots.
 *
 * Return: the number of readers evicted.
 */
static unsigned wait_indicator(struct native_writer *nw, unsigned x, uint64_t grace_ns,
			       struct wait_clock *wc)
{
	unsigned cur = atomic_load(&nw->h->li);
	unsigned evicted = 0;
	uint64_t start = 0; /* when a slot first held this wait */

	active_refresh(nw);
	const unsigned *list = nw->active;
	unsigned n = nw->n_active;
	if (nw->cand_seq == nw->seq) {
		list = nw->cand;
		n = nw->n_cand;
	}

	for (bool first = true;; first = false) {
		unsigned busy = 0;
		for (unsigned k = 0; k < n; k++) {
			unsigned i = list[k];
			struct wslot *ws = &nw->slots[i];
			if (first) /* not a pass of its own: it costs as much */
				ws->arrivals = 0;
			uint64_t a = slot_on(ws, x, cur, nw->seq, wc);
			if (!a)
				continue;
			uint64_t now = clock_now(wc);
			if (!start)
				start = now;
			if (!wc->hard)
				wc->hard = now + (grace_ns < UINT64_MAX / 4 ? 2 * grace_ns : UINT64_MAX / 2);
			bool probe = now - start >= SPIN_NS;
			bool breach = ws->arrivals > 2;
			bool due = breach || ws->evicted_seq == nw->seq || now - ws->seen_ns >= grace_ns ||
				   now >= wc->hard;
			/* A slot due for eviction is probed first: a dead reader is
			 * taken back, never evicted. */
			if ((probe || due) && !breach && now - ws->probed_ns >= PROBE_INTERVAL_NS) {
				if (!slot_alive(nw, i)) {
					slot_reclaim(nw, i, a);
					continue;
				}
				ws->probed_ns = now;
			}
			if (due) {
				slot_evict(nw, i, a);
				ws->evicted_seq = nw->seq; /* in this write */
				evicted++;
				continue;
			}
			busy++;
		}
		if (!busy)
			break;
		if (wc->now - start < SPIN_NS) {
			cpu_relax();
		} else {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
		wc->now = 0; /* read afresh on the next pass */
	}
	return evicted;
}

/* WAIT-NEXT, FLIP, WAIT-OLD: the waits of the last publish. */
unsigned finish_waits(struct native_writer *nw, uint64_t grace_ns)
{
	unsigned evicted = 0;
	struct wait_clock wc = { 0, 0 };

	if (!nw->pending)
		return 0;
	unsigned vi = atomic_load(&nw->h->vi);
	evicted += wait_indicator(nw, !vi, grace_ns, &wc);
	atomic_store(&nw->h->vi, !vi);
	evicted += wait_indicator(nw, vi, grace_ns, &wc);
	nw->pending = false;
	return evicted;
}

/* What bpftool and the metrics iterator see: a copy of the header. */
void mirror_sync(struct native_writer *nw)
{
	if (nw->mirror)
		memcpy(nw->mirror, nw->h, sizeof(*nw->h));
}

/* live_slots: the @live adopted readers, plus the readers handshaked and
 * not adopted yet, which a handshake adds itself before it sends the
 * hello (native_serve.c): a reader that asks for the figures (mmsync stat
 * --socket) is always among those counted, whenever the writer last
 * refreshed them. Both change the word under nw->lock (native_service.c,
 * rule 2), which a listening writer takes only when its count changed. */
static void store_live(struct native_writer *nw, uint32_t live)
{
	if (nw->listen_fd < 0) {
		atomic_store_explicit(&nw->h->live_slots, live, memory_order_relaxed);
		return;
	}
	if (live == nw->live_adopted)
		return;
	pthread_mutex_lock(&nw->lock);
	nw->live_adopted = live;
	atomic_store(&nw->h->live_slots, live + nw->n_pend);
	pthread_mutex_unlock(&nw->lock);
}

/* Figures: single words, ordered with nothing (a seq_cst store is an
 * exchange, ~8 ns here). */
static void store_figures(struct native_writer *nw, const uint32_t readers[2], uint32_t live)
{
	atomic_store_explicit(&nw->h->readers[0], readers[0], memory_order_relaxed);
	atomic_store_explicit(&nw->h->readers[1], readers[1], memory_order_relaxed);
	store_live(nw, live);
	mirror_sync(nw);
}

/* The figures in the header at a dispatch: readers per copy and live
 * slots, with the probes only a dispatch makes. (A publish counts them in
 * publish_scan().) */
void refresh_figures(struct native_writer *nw)
{
	uint32_t readers[2] = { 0, 0 }, live = 0;
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	active_refresh(nw);
	bool probe_table = now - nw->table_probed_ns >= TABLE_PROBE_NS;
	if (probe_table)
		nw->table_probed_ns = now;
	for (unsigned k = 0; k < nw->n_active; k++) {
		unsigned i = nw->active[k];
		struct wslot *ws = &nw->slots[i];
		if (ws->kind == SLOT_FREE)
			continue;
		/* Table slots (every 100 ms), and revoked readers (no
		 * connection tells of their death, and there are few): probed
		 * here, as a wait would. */
		if ((ws->kind == SLOT_TABLE && probe_table) || ws->revoked) {
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
	store_figures(nw, readers, live);
}

/* A membarrier failed (seccomp, say; any error, a passing one too, since
 * the writer cannot tell): fenceless readers can no longer be served as
 * such, for the rest of this writer's life. The rule, "revoke while the barrier is down": the header
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

/* REVOKE-FENCELESS, before each fill once the barrier is down. */
void fenceless_revoke(struct native_writer *nw)
{
	active_refresh(nw);
	for (unsigned k = 0; k < nw->n_active; k++) {
		struct wslot *ws = &nw->slots[nw->active[k]];
		if (ws->kind != SLOT_FREE && atomic_load(&ws->s->mode) == SLOT_MODE_FENCELESS)
			atomic_fetch_add(&ws->s->evictions, 1);
	}
}

/*
 * Right after PUBLISH and the store of seq, one pass over the slots that
 * loads each slot's line once: the figures, WAKE (native_wake.c), the
 * modes the BARRIER depends on, and the NOTE of every fenced slot; then the
 * BARRIER fenceless readers need, and the NOTE of their slots. The slots
 * NOTE did not see idle are listed for the next waits (nw->cand). (This
 * was three passes, and the waits two more: with a page a slot, each pass
 * over 1000 slots cost ~5 us a write, a cache and TLB miss a slot;
 * tools/bench/write_readers.c.)
 *
 * The note: an arrival the writer sees later with another value (each is
 * new) was stored after the note's load saw an earlier one. A fenced
 * reader's exchange and the writer's seq_cst store and loads are in one
 * total order: its load of li comes after the store, so it reads the copy
 * just published and the next write need not wait for it. A reader
 * preempted inside a view (of the copy just published, as nearly every
 * view at the next write is) thus no longer holds that write up. A fenced
 * slot's note needs no barrier, and its mode is loaded after its arrival:
 * a reader sets its mode up before it arrives, and leaves the fenceless
 * mode only between views. For a fenceless reader the membarrier stands
 * in for its fence, so its note comes after it. The membarrier is paid
 * only while such a reader is connected; a reader that turns fenceless
 * later fences its store of slot.mode (seq_cst) after its registration and
 * before its first arrival, so it loads the new li. Once the barrier has
 * failed, a fenceless slot's arrival proves nothing: it is not noted (and
 * barrier_down() says what keeps its reads told).
 */
void publish_scan(struct native_writer *nw)
{
	uint32_t readers[2] = { 0, 0 }, live = 0;
	bool futex = false;	/* a slot sleeps on the futex */
	bool fenceless = false;	/* a slot is fenceless: the BARRIER */

	active_refresh(nw);
	nw->n_cand = 0;
	for (unsigned k = 0; k < nw->n_active; k++) {
		unsigned i = nw->active[k];
		struct wslot *ws = &nw->slots[i];
		ws->published_seq = 0;
		if (ws->kind == SLOT_FREE)
			continue;
		if (ws->kind == SLOT_OWN || ws->held)
			live++;
		uint64_t a = atomic_load(&ws->s->arrived);
		int c = slot_reading(a, atomic_load(&ws->s->reading));
		if (c >= 0)
			readers[c]++;
		wake_slot(nw, ws, &futex);
		if (atomic_load(&ws->s->mode) == SLOT_MODE_FENCELESS) {
			fenceless = true;
			nw->cand[nw->n_cand++] = i;
			continue;
		}
		ws->published_seq = nw->seq; /* NOTE */
		ws->published_arrival = a;
		if (a)
			nw->cand[nw->n_cand++] = i;
	}
	nw->cand_seq = nw->seq;
	if (futex)
		wake_futex(nw);
	store_figures(nw, readers, live);

	if (!fenceless || nw->barrier_down)
		return;
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0)) {
		barrier_down(nw, errno);
		return;
	}
	atomic_fetch_add(&nw->h->membarriers, 1);
	for (unsigned k = 0; k < nw->n_active; k++) {
		struct wslot *ws = &nw->slots[nw->active[k]];
		if (ws->kind != SLOT_FREE && !ws->published_seq) {
			ws->published_seq = nw->seq; /* NOTE, after the BARRIER */
			ws->published_arrival = atomic_load(&ws->s->arrived);
		}
	}
}
