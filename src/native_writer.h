/* SPDX-License-Identifier: MIT */
/*
 * The native writer's state, shared by its files:
 *   native_writer.c  copies, generations, publish
 *   native_setup.c   creating and closing a writer (or a forked copy of it),
 *                    exporting descriptors
 *   native_slots.c   reader slots: liveness, the waits, eviction and
 *                    revocation, the writer's barrier, the figures
 *   native_serve.c   the socket: listening, handshakes, connections
 *   native_service.c the service thread, and what the writer's calls and
 *                    that thread share (the locking rule is at its top)
 *   native_wake.c    waking readers that sleep until a new version
 */
#ifndef MMSYNC_NATIVE_WRITER_H
#define MMSYNC_NATIVE_WRITER_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "bpf_state.h"
#include "mmsync.h"
#include "native_layout.h"
#include "segment.h"
#include "uring.h"
#include "wait.h"
#include "writer.h"

/* Handshakes whose hello is unread at any time, at most; and how long a
 * peer has to read it (native_serve.c). */
#define HELLOS_UNREAD_MAX 16
#define HELLO_TIMEOUT_NS (10 * 1000000000ull)

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
	uint64_t evicted_seq;	/* evicted by the waits of this publish number */
	bool held;		/* SLOT_TABLE: a reader held it at the last probe */
	bool revoked;		/* SLOT_OWN: dropped while alive; kept until it dies */
	bool reclaim_due;	/* SLOT_OWN: found dead under the lock, taken back after */
};

/* A reader handed its descriptors by the socket side and not yet taken
 * into the writer's slots (adopt()): its slot index, slot object and
 * connection. Guarded by native_writer.lock. */
struct pending_reader {
	unsigned i;
	struct segment obj;
	int conn;
	pid_t pid;		/* for the log */
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
	/* The slots of active the waits of publish number cand_seq look at:
	 * all but those NOTE saw not arrived (publish_scan()). Void once the
	 * active list is made again (cand_seq = 0). */
	unsigned *cand;
	unsigned n_cand;
	uint64_t cand_seq;
	bool table_used;	/* descriptors were exported: scan the table too */
	/* Live adopted readers as last stored in the header's live_slots,
	 * which also counts the readers handshaked but not adopted yet
	 * (native_slots.c, store_live()). */
	uint32_t live_adopted;
	uint64_t table_probed_ns;

	int epoll;
	int listen_fd;
	/* Refusals logged, ten a second at most (native_serve.c): the start
	 * of the current second, the lines in it, and those left out. */
	uint64_t refusal_window_ns;
	unsigned refusals_logged, refusals_quiet;
	char *sock_path;	/* to unlink at close; NULL for abstract/systemd */
	uid_t *allow_uids;
	gid_t *allow_gids;
	size_t n_uids, n_gids;

	/* What the writer's calls share with the socket side and the service
	 * thread: native_service.c, whose head has the rule. */
	pid_t pid;		/* the process that uses the writer */
	unsigned char *fork_guard; /* a MADV_WIPEONFORK page holding 1: 0 in a
				    * forked child; NULL where the kernel lacks it */
	pthread_mutex_t lock;	/* own-slot allocation, pending readers, the
				 * generation as handshakes hand it out */
	bool lock_ok;
	bool *taken;		/* [nr_slots]: own slot handed out (lock) */
	struct pending_reader *pend; /* accepted, not adopted (lock) */
	unsigned n_pend;
	/* Hellos sent and not read yet (hellos_mx, a leaf lock: taken under
	 * nw->lock or alone, nothing taken under it): their descriptors are in
	 * flight, charged to the writer. A duplicate of each connection, to
	 * see when it is read and to end it when it is not (native_serve.c);
	 * dropped when the writer closes the connection. */
	pthread_mutex_t hellos_mx;
	bool hellos_ok;
	struct hello_sent {
		int conn;
		unsigned slot;
		uint64_t sent_ns;
		pid_t pid;
	} hellos[HELLOS_UNREAD_MAX];
	unsigned n_hellos;
	atomic_uint adopt;	/* raised under the lock before a hello: pend
				 * is not empty */
	bool serving;		/* a service thread runs */
	bool listening;		/* in the fork handlers' list (rule 5) */
	struct native_writer *listening_next;
	pthread_t thread;
	int stop_fd;		/* eventfd: the thread stops when it reads 1 */
	pthread_mutex_t section_mx; /* held by the thread in a section */
	bool section_ok;
	atomic_uint in_write;	/* the caller is in a call on the writer */
	atomic_uint in_section;	/* the service thread is in a section */
};

static inline unsigned nr_slots(const struct native_writer *nw)
{
	return 2 * nw->max_readers;
}

/* The native writer of a public handle; NULL for a compat one. */
static inline struct native_writer *nw_of(struct mmsync_writer *w)
{
	return w ? w->native : NULL;
}

/* native_service.c: the caller's side of the rule. */
void writer_wait_section(struct native_writer *nw);
int writer_take_over(struct native_writer *nw);

/* True in a process forked from the writer's since it last used the writer:
 * a byte load (the guard page reads 0 in a child); getpid() where the
 * kernel lacks MADV_WIPEONFORK. */
static inline bool nw_forked(const struct native_writer *nw)
{
	return nw->fork_guard ? !*(volatile const unsigned char *)nw->fork_guard
			      : getpid() != nw->pid;
}

/* At every call: a forked child's copy becomes this process's writer, or
 * is refused (-ECHILD) when a service thread ran in the parent. */
static inline int writer_own(struct native_writer *nw)
{
	return nw_forked(nw) ? writer_take_over(nw) : 0;
}

/* Around every call of the caller's on the writer's state (native_service.c,
 * rule 1): with a service thread running, marks the call (one seq_cst store
 * and one load) and waits only if the thread is inside a section, which it
 * enters only while no call is under way. */
static inline int writer_enter(struct native_writer *nw)
{
	int err = writer_own(nw);
	if (err)
		return err;
	if (nw->serving) {
		atomic_store(&nw->in_write, 1);
		if (atomic_load(&nw->in_section))
			writer_wait_section(nw);
	}
	return 0;
}

static inline void writer_exit(struct native_writer *nw)
{
	if (nw->serving)
		atomic_store_explicit(&nw->in_write, 0, memory_order_release);
}

void logf_(struct native_writer *nw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t round_up(uint64_t n, long page);
void fill_msg(struct native_writer *nw, struct native_msg *m, unsigned type);
/* native_serve.c: the writer closes the connection of slot @i: its hello,
 * if unread, is no longer watched. */
void hello_forget(struct native_writer *nw, unsigned i);
/* O_DIRECT reads: offsets and chunks in whole blocks of this size. */
#define DIRECT_ALIGN 4096
/* Two copies of @capacity bytes, and read-only descriptions of them to hand
 * out; no_copies is the empty set. */
int copies_create(struct native_writer *nw, uint64_t capacity, struct copies *cs);
void copies_destroy(struct copies *cs);
extern const struct copies no_copies;

/* native_slots.c */
bool slot_alive(struct native_writer *nw, unsigned i);
void active_refresh(struct native_writer *nw);
void slot_reclaim(struct native_writer *nw, unsigned i, uint64_t seen);
void slot_drop(struct native_writer *nw, unsigned i, const char *why);
bool slot_drop_live(struct native_writer *nw, unsigned i, const char *why);
unsigned finish_waits(struct native_writer *nw, uint64_t grace_ns);
void publish_scan(struct native_writer *nw);
void fenceless_revoke(struct native_writer *nw);
void mirror_sync(struct native_writer *nw);
void refresh_figures(struct native_writer *nw);

/* native_wake.c: WAKE, from the scan of each publish: a load per slot,
 * inline; the rest only for a slot that waits. */
void wake_armed(struct native_writer *nw, struct wslot *ws, uint64_t w, bool *futex);
void wake_futex(struct native_writer *nw);
void wake_all_closing(struct native_writer *nw);

/* Notes in *@futex whether slot @ws sleeps on the futex; sends its WAKE
 * message if its descriptor waits. */
static inline void wake_slot(struct native_writer *nw, struct wslot *ws, bool *futex)
{
	uint64_t w = atomic_load(&ws->s->wait);
	if (__builtin_expect(w != 0, 0))
		wake_armed(nw, ws, w, futex);
}

/* native_serve.c */
void dispatch_body(struct native_writer *nw);
bool accept_reader(struct native_writer *nw);

/* native_service.c */
int service_init(struct native_writer *nw);
void service_fini(struct native_writer *nw);
int service_start(struct native_writer *nw);
void service_stop(struct native_writer *nw);
void listening_add(struct native_writer *nw);
void listening_remove(struct native_writer *nw);
void adopt_locked(struct native_writer *nw);
void adopt(struct native_writer *nw);
void own_release(struct native_writer *nw, unsigned i);

#endif
