/* SPDX-License-Identifier: MIT */
#include "fdpass.h"
#include "fds.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int fdpass_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = path ? strlen(path) : 0;

	if (n == 0 || (path[0] == '@' && n == 1))
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') {
		sa->sun_path[0] = 0; /* abstract: the length says where the name ends */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int fdpass_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > FDPASS_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* True when this process cannot open one more descriptor (@any_fd: one
 * that is open, to duplicate). */
static bool out_of_descriptors(int any_fd)
{
	int fd = fcntl(any_fd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EMFILE;
}

long fdpass_recv(int sock, void *buf, size_t cap, int flags, int *fds, unsigned max, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, cap };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Take every descriptor the message carried, whatever else is wrong
	 * with it: one left open is a leak the sender controls. */
	int got[FDPASS_MAX_FDS];
	unsigned ngot = 0;
	bool bad = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (ngot < FDPASS_MAX_FDS && (fd = fd_above_stdio(fd)) >= 0)
				got[ngot++] = fd;
			else if (fd >= 0)
				close(fd);
			else
				bad = true;
		}
	}
	if (bad || ngot > max) {
		/* Descriptors dropped because this process had no room for
		 * them (asked while those it got are still open): our
		 * shortage, not a bad message. */
		bool full = (msg.msg_flags & MSG_CTRUNC) && out_of_descriptors(sock);
		for (unsigned i = 0; i < ngot; i++)
			close(got[i]);
		return full ? -EMFILE : -EBADMSG;
	}
	memcpy(fds, got, sizeof(int) * ngot);
	*nfds = ngot;
	return (long)n;
}
