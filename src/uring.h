/* SPDX-License-Identifier: MIT */
/* The writer's io_uring: prefaulting copies and filling them from files.
 * Where io_uring is not available (seccomp, a kernel built without it, a
 * container that forbids it), the same operations run as plain syscalls
 * (uring_plain.c). A build without io_uring (meson -Dio_uring=disabled)
 * has no uring.c: the functions below are then inline and always plain. */
#ifndef MMSYNC_URING_H
#define MMSYNC_URING_H

#include "config.h"

#if MMSYNC_HAVE_IO_URING
#include <liburing.h>
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uring {
#if MMSYNC_HAVE_IO_URING
	struct io_uring ring;
#endif
	bool ok;		/* the ring exists; else plain syscalls */
	unsigned entries;
};

/* The same operations with plain system calls, one request at a time. */
int uring_read_plain(int fd, int64_t offset, void *dst, uint64_t len, size_t chunk, bool direct,
		     size_t align);
int uring_prefault_plain(int fd, void *map, uint64_t off, uint64_t len);

#if MMSYNC_HAVE_IO_URING
/* Sets up a ring of @entries. Never fails: without io_uring, u->ok is false. */
void uring_init(struct uring *u, unsigned entries);
void uring_exit(struct uring *u);

/* Makes bytes [@off, @off + @len) of a copy exist and be mapped writable in
 * @map: fallocate(2) on @fd, then MADV_POPULATE_WRITE on the mapping, so
 * that the copy into it takes no page fault. Return: 0 or -errno (-ENOMEM
 * or -ENOSPC when memory or huge pages run out). */
int uring_prefault(struct uring *u, int fd, void *map, uint64_t off, uint64_t len);

/* Reads @len bytes of @fd from @offset (-1: from the file position, for
 * pipes and sockets) straight into @dst, @chunk bytes a request, @depth
 * requests in flight. Short reads are resumed. With @direct (O_DIRECT),
 * requests are rounded up to @align, which @dst, @offset and @chunk must be
 * multiples of, and @dst must have room for the rounding.
 * Return: 0, -ENODATA when the file ends before @len bytes, or the -errno
 * of the first read that failed. All requests have completed on return. */
int uring_read_into(struct uring *u, int fd, int64_t offset, void *dst, uint64_t len,
		    size_t chunk, unsigned depth, bool direct, size_t align);
#else
static inline void uring_init(struct uring *u, unsigned entries)
{
	*u = (struct uring){ .ok = false, .entries = entries };
}

static inline void uring_exit(struct uring *u)
{
	(void)u;
}

static inline int uring_prefault(struct uring *u, int fd, void *map, uint64_t off, uint64_t len)
{
	(void)u;
	return uring_prefault_plain(fd, map, off, len);
}

static inline int uring_read_into(struct uring *u, int fd, int64_t offset, void *dst, uint64_t len,
				  size_t chunk, unsigned depth, bool direct, size_t align)
{
	(void)u;
	(void)depth;
	return uring_read_plain(fd, offset, dst, len, chunk, direct, align);
}
#endif

#endif
