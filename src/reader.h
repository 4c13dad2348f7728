/* SPDX-License-Identifier: MIT */
/* The reader handle: a compat reader (compat_reader.c) or a native one
 * (native_reader.c), behind the same public functions (reader.c). */
#ifndef MMSYNC_READER_H
#define MMSYNC_READER_H

#include "compat_layout.h"
#include "hold.h"
#include "mmsync.h"
#include "native_layout.h"

struct compat_map {
	int fd;
	const void *map;
	size_t len;
	uint64_t checked; /* version word whose size was last checked against the file */
};

/* The native reader's set-up; what each read touches is in the handle's
 * struct mmsync_read_fast (include/mmsync_read.h). */
struct native_reader {
	const struct native_header *h;
	uint64_t capacity;	/* bytes mapped per copy, checked by fstat */
	struct native_slot *slot;
	void *slot_map;		/* the slot object, or the whole table */
	size_t slot_len;
	int slot_fd;		/* our own description, carrying our lock */
	int state_fd;		/* to probe the writer's lock on the header */
	int conn;		/* the writer's socket; -1 when made from descriptors */
	pid_t pid;		/* the process that made it: only it says it closed */
};

struct mmsync_reader {
	struct mmsync_read_fast f; /* first: the inline read path casts to it */
	bool native;
	unsigned flags;
	struct compat_trust trust; /* whose files and writer it trusts, where it says why not */
	/* compat */
	char *prefix;
	int state_fd;
	struct compat_state *state;
	struct compat_map copy[2];
	/* native */
	struct native_reader n;
	/* mmsync_reader_fd() (reader_wait.c): the descriptor handed out, -1
	 * until asked for: an epoll set of the connection and an eventfd the
	 * reader signals itself (self_fd), or a timer (watch_timer: compat,
	 * or a reader made from descriptors). */
	int watch_fd;
	int self_fd;
	bool self_signalled;	/* self_fd holds a signal not drained yet */
	bool watch_timer;
	/* The copies' mappings a binding holds (hold.c), NULL for the others. */
	struct mmsync_hold *hold[2];
};
_Static_assert(offsetof(struct mmsync_reader, f) == 0, "mmsync_read.h casts the handle");

/* reader.c: with MMSYNC_VERIFY_CHECKSUM, -EBADMSG unless the payload's
 * hash matches the version word @v. */
int reader_verify(const struct mmsync_reader *r, const void *data, uint64_t size, uint64_t v);

/* compat_reader.c: begin takes a count on the current copy, end drops it. */
int compat_begin(struct mmsync_reader *r, struct mmsync_view *view);
/* Maps the state file, once. Return: 0 or -errno (-ENOENT: no writer yet). */
int compat_state_map(struct mmsync_reader *r);
int compat_end(struct mmsync_reader *r, unsigned idx, uint64_t v);
int compat_version(struct mmsync_reader *r, uint64_t *version);
int compat_stat(struct mmsync_reader *r, struct mmsync_stat *st);
void compat_reader_release(struct mmsync_reader *r);

/* native_reader.c: what the inline read path hands over (new generations,
 * a grown payload, checksums, evictions, errors). */
int native_begin(struct mmsync_reader *r, struct mmsync_view *view);

/* 0 while the writer lives and has not revoked this reader; -EPIPE or
 * -ECONNRESET. */
int native_reader_check(struct mmsync_reader *r);

/* Takes up the copies of @generation from the writer's socket.
 * Return: 0, -ESTALE (made from descriptors), -EPIPE (writer gone), -EBADMSG. */
int native_refresh(struct mmsync_reader *r, uint64_t generation);

void native_reader_release(struct mmsync_reader *r);

/* The slot's eviction count changed since the handle last looked: notes
 * it, and acts on why. Return: 0, or -ECONNRESET when the writer revoked
 * this reader (its connection failed while it lived). */
int native_evictions_seen(struct mmsync_reader *r);

/* Prefaults the mapping of copy @c as far as the writer has populated it
 * and @need bytes (a version's payload) reach, so that reading it takes no
 * page fault. */
void native_populate(struct mmsync_reader *r, unsigned c, uint64_t need);

/* reader.c: a zeroed handle, alone in a page of its own at
 * READER_PAGE_OFFSET (why: reader_alloc()); reader_free() frees it. */
#define READER_PAGE 4096
#define READER_PAGE_OFFSET 0x800
_Static_assert(READER_PAGE_OFFSET + sizeof(struct mmsync_reader) <= READER_PAGE,
	       "the handle fits its page");
struct mmsync_reader *reader_alloc(void);
void reader_free(struct mmsync_reader *r);

/* reader_wait.c: after each read of a handle whose descriptor was asked
 * for, re-arms it; at close, closes it. */
void watch_rearm(struct mmsync_reader *r);
void watch_close(struct mmsync_reader *r);

#endif
