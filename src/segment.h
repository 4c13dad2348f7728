/* SPDX-License-Identifier: MIT */
/* Segments: the memory objects of the native layout (memfd, hugetlb memfd,
 * hugetlbfs file), created, sized, mapped and sealed. */
#ifndef MMSYNC_SEGMENT_H
#define MMSYNC_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct segment {
	int fd;		/* the writer's read-write descriptor */
	void *map;	/* the writer's mapping, read-write */
	size_t len;
};

enum segment_kind { SEG_MEMFD, SEG_HUGETLB, SEG_HUGETLBFS };

/* Creates an object of @len bytes (rounded up by the caller), maps it
 * read-write and adds @seals (F_SEAL_FUTURE_WRITE after the mapping, so the
 * writer's own mapping stays writable). Return: 0 or -errno. */
int segment_create(struct segment *seg, const char *name, enum segment_kind kind,
		   const char *hugetlbfs_dir, size_t len, unsigned seals);

void segment_destroy(struct segment *seg);

/* The page size objects of @kind are made of (huge page size for hugetlb).
 * Return: the size, or -errno. */
long segment_page_size(enum segment_kind kind, const char *hugetlbfs_dir);

/* A new open file description of the same object (through /proc/self/fd):
 * O_RDONLY ones are what readers get, O_RDWR ones carry a reader's lock.
 * Return: the descriptor (close-on-exec), or -errno. */
int segment_reopen(int fd, int flags);

#endif
