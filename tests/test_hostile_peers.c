/* SPDX-License-Identifier: MIT */
/* What a reader of another uid can do with the descriptors a native writer
 * hands it: read, and nothing more. It cannot reopen them for writing
 * through /proc/self/fd (to take the writer's liveness lock after the writer
 * is gone, or to allocate a sparse copy whole), nor take a write lock on
 * the read-only descriptions. Runs as root: the reader changes uid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

#define OTHER_UID 54321

/* In the child, as OTHER_UID: the handshake's descriptors, then every way
 * to write through them. Return: 0 when each is refused. */
static int try_reopen(const char *name)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct native_msg m;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds = 0;

	become(OTHER_UID);
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c < 0 || fdpass_addr(name, &sa, &salen) || connect(c, (struct sockaddr *)&sa, salen) ||
	    !fd_ready(c, 20000))
		return CHILD_SETUP;
	if (fdpass_recv(c, &m, sizeof(m), MSG_DONTWAIT, fds, FDPASS_MAX_FDS, &nfds) <= 0 || nfds != 4)
		return CHILD_SETUP;
	/* The header and both copies: read-only descriptions of objects
	 * this uid may not open again, for writing or at all. */
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != EACCES)
			return 10 + i;
		if (fallocate(fds[i], 0, 0, 1 << 20) == 0)
			return 20 + i;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(fds[0], F_OFD_SETLK, &fl) == 0)
		return 30;
	return 0;
}

static void test_reopen_refused(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("a reader of another uid needs root (setuid)");
	struct log_count log;
	char name[64];
	const uid_t uids[] = { OTHER_UID };
	struct mmsync_writer *w = writer_new("reopen", 4, &log);
	writer_listen(w, name, sizeof(name), uids, 1);
	publish(w, 1);
	pid_t pid = test_fork();
	if (pid == 0)
		_exit(try_reopen(name));
	assert_int_equal(dispatch_wait(w, pid, 20000), 0);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_reopen_refused),
	};
	return test_run(tests);
}
