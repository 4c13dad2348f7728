/* SPDX-License-Identifier: MIT */
/*
 * The native writer's state, shared by its three files:
 *   native_writer.c  copies, generations, publish, creation
 *   native_slots.c   reader slots: liveness, the waits, eviction and
 *                    revocation, the writer's barrier, the figures
 *   native_serve.c   the socket: listening, handshakes, connections
 */
#ifndef MMSYNC_NATIVE_WRITER_H
#define MMSYNC_NATIVE_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "bpf_state.h"
#include "mmsync.h"
#include "native_layout.h"
#include "segment.h"
#include "uring.h"
#include "wait.h"
#include "writer.h"

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

static inline unsigned nr_slots(const struct native_writer *nw)
{
	return 2 * nw->max_readers;
}

/* The native writer of a public handle; NULL for a compat one. */
static inline struct native_writer *nw_of(struct mmsync_writer *w)
{
	return w ? w->native : NULL;
}

void logf_(struct native_writer *nw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t round_up(uint64_t n, long page);
void fill_msg(struct native_writer *nw, struct native_msg *m, unsigned type);

/* native_slots.c */
bool slot_alive(struct native_writer *nw, unsigned i);
void active_refresh(struct native_writer *nw);
void slot_reclaim(struct native_writer *nw, unsigned i, uint64_t seen);
void slot_drop(struct native_writer *nw, unsigned i, const char *why);
unsigned finish_waits(struct native_writer *nw, uint64_t grace_ns);
void published_arrivals(struct native_writer *nw);
void fenceless_revoke(struct native_writer *nw);
void mirror_sync(struct native_writer *nw);
void refresh_figures(struct native_writer *nw, bool dispatching);

#endif
