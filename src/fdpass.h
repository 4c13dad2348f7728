/* SPDX-License-Identifier: MIT */
/* Unix SOCK_SEQPACKET sockets and descriptors passed over them (SCM_RIGHTS). */
#ifndef MMSYNC_FDPASS_H
#define MMSYNC_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define FDPASS_MAX_FDS 8

/* Fills @sa for a path, or for an abstract name when @path starts with '@'.
 * Return: 0, -EINVAL, -ENAMETOOLONG. */
int fdpass_addr(const char *path, struct sockaddr_un *sa, socklen_t *len);

/* Sends one message of @len bytes with @nfds descriptors, without blocking
 * and without SIGPIPE. Return: 0 or -errno. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Receives one message into @buf (up to @cap bytes) and the descriptors it
 * carries (close-on-exec). A message cut short, or carrying more than @max
 * descriptors, is refused and every descriptor received is closed.
 * Return: the message's length, 0 on end of stream, or -errno
 * (-EBADMSG for a message cut short). */
long fdpass_recv(int sock, void *buf, size_t cap, int flags, int *fds, unsigned max, unsigned *nfds);

#endif
