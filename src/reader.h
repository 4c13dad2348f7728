/* SPDX-License-Identifier: MIT */
/* The reader handle, shared by the read path (reader.c) and the native
 * reader's set-up (connect.c). */
#ifndef MMSYNC_READER_H
#define MMSYNC_READER_H

#include "compat_layout.h"
#include "mmsync.h"
#include "native_layout.h"

struct compat_map {
	int fd;
	const void *map;
	size_t len;
	uint64_t checked; /* version word whose size was last checked against the file */
};

struct native_reader {
	const struct native_header *h;
	const void *copy[2];
	uint64_t capacity;	/* bytes mapped per copy, checked by fstat */
	uint64_t populated[2];	/* bytes of each mapping prefaulted */
	uint64_t generation;	/* of the copies mapped */
	struct native_slot *slot;
	void *slot_map;		/* the slot object, or the whole table */
	size_t slot_len;
	int slot_fd;		/* our own description, carrying our lock */
	int state_fd;		/* to probe the writer's lock on the header */
	int conn;		/* the writer's socket; -1 when made from descriptors */
	uint64_t nreads;	/* arrivals so far: makes each arrival value new */
	uint64_t evictions;	/* the slot's eviction count when the view began */
	bool fenceless;		/* registered: the writer's membarrier orders our arrival */
};

struct mmsync_reader {
	bool native;
	unsigned flags;
	uint64_t last_version;
	unsigned holding;	/* 1 + the copy of the open view, 0 when none */
	/* compat */
	char *prefix;
	int state_fd;
	struct compat_state *state;
	struct compat_map copy[2];
	/* native */
	struct native_reader n;
};

/* Takes up the copies of @generation from the writer's socket.
 * Return: 0, -ESTALE (made from descriptors), -EPIPE (writer gone), -EBADMSG. */
int native_refresh(struct mmsync_reader *r, uint64_t generation);

void native_reader_release(struct native_reader *n);

/* Prefaults the mapping of copy @c as far as the writer has populated it,
 * so that reading it takes no page fault. */
void native_populate(struct native_reader *n, unsigned c);

struct mmsync_reader *reader_alloc(void);

#endif
