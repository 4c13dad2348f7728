/* SPDX-License-Identifier: MIT */
/* What uring.c does, as plain system calls: its fallback where io_uring is
 * refused, and all there is in a build without io_uring. */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* The steps of uring.c's madvise requests, kept alike. */
#define MADVISE_STEP (1ull << 30)

int uring_prefault_plain(int fd, void *map, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	int err = posix_fallocate(fd, (off_t)off, (off_t)len);
	if (err)
		return -err;
	for (uint64_t o = 0; o < len; o += MADVISE_STEP)
		if (madvise((char *)map + off + o, len - o < MADVISE_STEP ? len - o : MADVISE_STEP,
			    MADV_POPULATE_WRITE))
			return -errno;
	return 0;
}

int uring_read_plain(int fd, int64_t offset, void *dstv, uint64_t len, size_t chunk, bool direct,
		     size_t align)
{
	char *dst = dstv;
	for (uint64_t pos = 0; pos < len;) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		if (direct)
			n = (n + align - 1) / align * align;
		ssize_t r = offset < 0 ? read(fd, dst + pos, n) : pread(fd, dst + pos, n, offset + (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		pos += (uint64_t)r;
	}
	return 0;
}
