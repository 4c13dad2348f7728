/* SPDX-License-Identifier: MIT */
/* The writer handle: a compat writer (compat_writer.c), or a native one
 * (native_writer.c), behind the same public functions (writer.c). */
#ifndef MMSYNC_WRITER_H
#define MMSYNC_WRITER_H

#include "compat_layout.h"
#include "mmsync.h"

struct compat_copy {
	int fd;
	void *map;
	size_t len;
	/* Bytes checked to exist, allocated and mapped: data files only grow
	 * (compat_layout.h), so a write that fits needs no system call. */
	size_t ready;
};

struct native_writer;

struct mmsync_writer {
	struct native_writer *native;	/* set: native layout; NULL: compat */
	bool building;			/* between write_begin and commit/abort */
	size_t build_len;
	unsigned build_copy;		/* compat: the copy being built */
	bool build_reset;
	bool no_reset;			/* MMSYNC_NO_RESET: time out rather than reset */
	bool wake;			/* MMSYNC_WAKE_WAITERS */
	struct compat_trust trust;	/* whose files it uses, where it says why not */
	/* compat */
	char *prefix;
	int state_fd;
	struct compat_state *state;
	struct compat_copy copy[2];
};

struct mmsync_writer *writer_alloc(void);

/* compat_writer.c. prepare waits for the readers of the copy about to be
 * written and readies it for @len bytes; publish stores its version word. */
int compat_prepare(struct mmsync_writer *w, size_t len, uint64_t grace_ns, unsigned *next,
		   bool *reset);
int compat_publish(struct mmsync_writer *w, unsigned next, size_t len, bool reset,
		   struct mmsync_write_info *info);
int compat_write(struct mmsync_writer *w, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info);
int compat_write_from_fd(struct mmsync_writer *w, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info);
void compat_writer_release(struct mmsync_writer *w);

/* native_writer.c */

int native_write(struct native_writer *nw, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info);
int native_write_from_fd(struct native_writer *nw, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info);
int native_write_begin(struct native_writer *nw, size_t len, uint64_t grace_ns, void **ptr);
int native_write_commit(struct native_writer *nw, size_t len, struct mmsync_write_info *info);
int native_write_abort(struct native_writer *nw);
void native_writer_close(struct native_writer *nw);

#endif
