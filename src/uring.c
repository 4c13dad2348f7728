/* SPDX-License-Identifier: MIT */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* io_uring_prep_madvise takes a 32-bit length. */
#define MADVISE_STEP (1ull << 30)

void uring_init(struct uring *u, unsigned entries)
{
	memset(u, 0, sizeof(*u));
	u->entries = entries;
	u->ok = io_uring_queue_init(entries, &u->ring, 0) == 0;
	/* Never on 0-2 (fds.h). The rings are mapped: only the descriptor
	 * that io_uring_enter() takes moves. */
	if (u->ok && u->ring.ring_fd <= 2) {
		int fd = fcntl(u->ring.ring_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			io_uring_queue_exit(&u->ring);
			u->ok = false;
			return;
		}
		close(u->ring.ring_fd);
		u->ring.ring_fd = u->ring.enter_ring_fd = fd;
	}
}

void uring_exit(struct uring *u)
{
	if (u->ok)
		io_uring_queue_exit(&u->ring);
	u->ok = false;
}

/* Submits what is queued and reaps @n completions; the first error wins. */
static int reap(struct uring *u, unsigned n)
{
	int err = 0, r = io_uring_submit_and_wait(&u->ring, n);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		if ((r = io_uring_wait_cqe(&u->ring, &cqe)))
			return r;
		if (cqe->res < 0 && !err)
			err = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
	}
	return err;
}

int uring_prefault(struct uring *u, int fd, void *map, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (!u->ok)
		return uring_prefault_plain(fd, map, off, len);
	/* fallocate, then the madvise steps, linked: one submission. */
	unsigned n = 0;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, fd, 0, (off_t)off, (off_t)len);
	sqe->flags |= IOSQE_IO_LINK;
	n++;
	for (uint64_t o = 0; o < len; o += MADVISE_STEP) {
		if (!(sqe = io_uring_get_sqe(&u->ring))) {
			int err = reap(u, n);
			if (err)
				return err;
			n = 0;
			sqe = io_uring_get_sqe(&u->ring);
		}
		io_uring_prep_madvise(sqe, (char *)map + off + o,
				      (off_t)(len - o < MADVISE_STEP ? len - o : MADVISE_STEP),
				      MADV_POPULATE_WRITE);
		sqe->flags |= IOSQE_IO_LINK;
		n++;
	}
	sqe->flags &= (__u8)~IOSQE_IO_LINK;
	int err = reap(u, n);
	return err == -ECANCELED ? -EIO : err;
}

/* One request: bytes [pos, pos + n) of the payload. */
struct piece {
	uint64_t pos;
	uint32_t n;
};

static void queue_read(struct uring *u, int fd, int64_t offset, char *dst, struct piece *p,
		       bool direct, size_t align)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	uint32_t n = p->n;
	if (direct)
		n = (uint32_t)((n + align - 1) / align * align);
	io_uring_prep_read(sqe, fd, dst + p->pos, n, offset < 0 ? (uint64_t)-1 : (uint64_t)offset + p->pos);
	io_uring_sqe_set_data(sqe, p);
}

int uring_read_into(struct uring *u, int fd, int64_t offset, void *dst, uint64_t len,
		    size_t chunk, unsigned depth, bool direct, size_t align)
{
	if (!u->ok)
		return uring_read_plain(fd, offset, dst, len, chunk, direct, align);
	/* A stream has one position: one request at a time, in order. */
	if (offset < 0)
		depth = 1;
	if (depth > u->entries)
		depth = u->entries;

	struct piece pieces[depth];
	struct piece *free_list[depth];
	unsigned nfree = depth, inflight = 0;
	uint64_t next = 0;
	int err = 0;

	for (unsigned i = 0; i < depth; i++)
		free_list[i] = &pieces[i];
	while ((next < len && !err) || inflight) {
		while (next < len && !err && nfree) {
			struct piece *p = free_list[--nfree];
			p->pos = next;
			p->n = (uint32_t)(len - next < chunk ? len - next : chunk);
			next += p->n;
			queue_read(u, fd, offset, dst, p, direct, align);
			inflight++;
		}
		int r = io_uring_submit_and_wait(&u->ring, 1);
		if (r < 0 && r != -EINTR && !err)
			err = r;
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&u->ring, head, cqe) {
			struct piece *p = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			seen++;
			inflight--;
			if (res < 0 && !err) {
				err = res;
			} else if (res == 0 && p->n && !err) {
				err = -ENODATA; /* the file ended first */
			} else if (res > 0 && (uint32_t)res < p->n && !err) {
				/* Short: ask again for the rest of this piece. */
				p->pos += (uint64_t)res;
				p->n -= (uint32_t)res;
				queue_read(u, fd, offset, dst, p, direct, align);
				inflight++;
				continue;
			}
			free_list[nfree++] = p;
		}
		io_uring_cq_advance(&u->ring, seen);
	}
	return err;
}
