/* SPDX-License-Identifier: MIT */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fds.h"
#include "native_layout.h"

long segment_page_size(enum segment_kind kind, const char *hugetlbfs_dir)
{
	struct statfs sfs;

	switch (kind) {
	case SEG_MEMFD:
		return sysconf(_SC_PAGESIZE);
	case SEG_HUGETLBFS:
		if (statfs(hugetlbfs_dir, &sfs))
			return -errno;
		if (sfs.f_type != HUGETLBFS_MAGIC)
			return -EINVAL;
		return (long)sfs.f_bsize;
	case SEG_HUGETLB: {
		/* The default huge page size is what an MFD_HUGETLB memfd uses. */
		int fd = memfd_create("mmsync-probe", MFD_CLOEXEC | MFD_HUGETLB);
		if (fd < 0)
			return -errno;
		long r = fstatfs(fd, &sfs) ? -errno : (long)sfs.f_bsize;
		close(fd);
		return r;
	}
	}
	return -EINVAL;
}

static int object_open(const char *name, enum segment_kind kind, const char *dir)
{
	char mname[96];
	int fd;

	snprintf(mname, sizeof(mname), "mmsync:%s", name);
	switch (kind) {
	case SEG_MEMFD:
		fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		break;
	case SEG_HUGETLB:
		fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
		break;
	default:
		/* A nameless file on the mount: nothing to clean up after a crash. */
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		break;
	}
	return fd_above_stdio(fd);
}

int segment_create(struct segment *seg, const char *name, enum segment_kind kind,
		   const char *hugetlbfs_dir, size_t len, unsigned seals)
{
	int err;

	*seg = (struct segment){ .fd = -1 };
	seg->fd = object_open(name, kind, hugetlbfs_dir);
	if (seg->fd < 0)
		return seg->fd;
	/* Only the writer's uid may open the object again (through
	 * /proc/PID/fd): a reader of another uid keeps the read-only
	 * description it was sent, and cannot reopen it for writing to take
	 * the writer's lock or allocate a sparse copy whole. */
	if (fchmod(seg->fd, 0600)) {
		err = -errno;
		goto fail;
	}
	if (ftruncate(seg->fd, (off_t)len)) {
		err = -errno;
		goto fail;
	}
	/* Hugetlb pages are reserved here: with too few free, this fails
	 * with ENOMEM now rather than SIGBUS later. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	seg->map = p;
	seg->len = len;
	/* Files on a hugetlbfs mount cannot carry seals (only memfds can). */
	if (kind != SEG_HUGETLBFS && seals && fcntl(seg->fd, F_ADD_SEALS, seals)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	segment_destroy(seg);
	return err;
}

void segment_destroy(struct segment *seg)
{
	if (seg->map)
		munmap(seg->map, seg->len);
	if (seg->fd >= 0)
		close(seg->fd);
	*seg = (struct segment){ .fd = -1 };
}

int segment_reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return fd_above_stdio(open(path, flags | O_CLOEXEC));
}
