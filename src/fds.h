/* SPDX-License-Identifier: MIT */
/* Descriptors the library makes never land on 0, 1 or 2: a program started
 * with one of those closed would otherwise have its printf() write into a
 * segment's file. */
#ifndef MMSYNC_FDS_H
#define MMSYNC_FDS_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Moves @fd above the standard descriptors (close-on-exec). Return: the
 * descriptor, or -errno (@fd then closed); a negative @fd is returned as
 * -errno of the call that failed to make it. */
static inline int fd_above_stdio(int fd)
{
	if (fd < 0)
		return -errno;
	if (fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int err = errno;
	close(fd);
	return nfd >= 0 ? nfd : -err;
}

#endif
