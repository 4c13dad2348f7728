/* SPDX-License-Identifier: MIT */
/* Peers of a native writer: what a reader of another uid can do with the
 * descriptors it is handed (read, nothing more: no reopening them for
 * writing through /proc/self/fd, no write lock), a path that is not the
 * writer's socket, a refused uid connecting in a loop, a writer out of
 * descriptors. Runs as root: peers change uid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

#include <sys/resource.h>

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

/* Item 5: listen() on a path where something else is: only a socket that
 * nobody listens on is a dead writer's, and removed; a file is left alone. */
static void test_socket_path_not_removed(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[200];
	struct log_count log;
	tmp_prefix_make(&t, "sockpath");
	snprintf(path, sizeof(path), "%s/not-a-socket", t.dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep me", 7), 7);
	close(fd);
	struct mmsync_writer *w = writer_new("sockpath", 4, &log);
	assert_int_equal(mmsync_writer_listen(w, path, NULL), -EADDRINUSE);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 7);
	/* A socket left by a writer that died is taken over. */
	assert_int_equal(unlink(path), 0);
	int dead = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa;
	socklen_t salen;
	assert_int_equal(fdpass_addr(path, &sa, &salen), 0);
	assert_int_equal(bind(dead, (struct sockaddr *)&sa, salen), 0);
	close(dead);
	assert_int_equal(mmsync_writer_listen(w, path, NULL), 0);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

/* Item 11: a refused uid connecting in a loop. Every refusal is counted in
 * the log, but ten lines a second at most (before: one line each, and a
 * dispatch that accepted until the queue was empty). */
static void test_connect_flood(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("a refused peer needs another uid (setuid)");
	enum { FLOOD = 2000 };
	struct log_count log;
	char name[64];
	unsigned *made = shared_alloc(sizeof(*made));
	struct mmsync_writer *w = writer_new("flood", 4, &log);
	writer_listen(w, name, sizeof(name), NULL, 0);
	uint64_t t0 = now_ms();
	pid_t pid = test_fork();
	if (pid == 0) {
		become(OTHER_UID);
		struct sockaddr_un sa;
		socklen_t salen;
		if (fdpass_addr(name, &sa, &salen))
			_exit(CHILD_SETUP);
		for (int i = 0; i < FLOOD; i++) {
			int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
			if (c < 0 || connect(c, (struct sockaddr *)&sa, salen))
				_exit(CHILD_SETUP);
			close(c);
			__atomic_add_fetch(made, 1, __ATOMIC_RELAXED);
		}
		_exit(0);
	}
	assert_int_equal(dispatch_wait(w, pid, 60000), 0);
	/* What is still queued, then the second's summary. */
	for (int i = 0; i < 2 * FLOOD / 16; i++)
		assert_int_equal(mmsync_writer_dispatch(w), 0);
	usleep(1100000);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	double seconds = (double)(now_ms() - t0) / 1000;
	unsigned lines = (unsigned)log.refused, counted = 0;
	/* log.last holds the summary "refused N more peers in the last ...". */
	print_message("%u connections refused in %.1f s: %u log lines, the last: %s\n", *made,
		      seconds, lines, log.last);
	assert_int_equal(*made, FLOOD);
	assert_true(lines <= 10 * (seconds + 1) + seconds + 2);
	assert_int_equal(sscanf(log.last, "refused %u more peers", &counted), 1);
	assert_true(counted > 0 && counted < FLOOD);
	mmsync_writer_close(w);
	munmap(made, sizeof(*made));
}

/* Item 14: a writer out of descriptors when a reader connects tells it to
 * try again (-EAGAIN), where the reader used to see a closed connection and
 * say that no writer was there. */
static void test_writer_short_of_descriptors(void **unused)
{
	(void)unused;
	char name[64];
	int go[2], done[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	sock_name(name, sizeof(name));
	pid_t pid = test_fork();
	if (pid == 0) {
		close(go[0]);
		close(done[1]);
		struct log_count log;
		struct mmsync_writer *w = writer_new("nofd", 4, &log);
		MMSYNC_OPTS(mmsync_listen_opts, lo);
		if (mmsync_writer_listen(w, name, &lo))
			_exit(CHILD_SETUP);
		publish(w, 1);
		/* One descriptor left: the connection's, none for its slot. */
		struct rlimit rl = { (rlim_t)count_fds() + 1, 1024 };
		if (setrlimit(RLIMIT_NOFILE, &rl) || write(go[1], "g", 1) != 1)
			_exit(CHILD_SETUP);
		while (!fd_ready(done[0], 1))
			mmsync_writer_dispatch(w);
		bool said = strstr(log.last, "could not serve");
		mmsync_writer_close(w); /* its pins too */
		_exit(said ? 0 : 1);
	}
	close(go[1]);
	close(done[0]);
	read_byte(go[0], "the writer");
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_connect(&r, name, NULL), -EAGAIN);
	assert_int_equal(write(done[1], "d", 1), 1);
	assert_int_equal(wait_child(pid), 0);
	close(go[0]);
	close(done[1]);
}

/* A reader in a child: connects once. Return: 0, or the errno. */
static int connect_once(const char *name)
{
	struct mmsync_reader *r;
	int err = mmsync_reader_connect(&r, name, NULL);
	if (!err)
		mmsync_reader_close(r);
	return -err;
}

/* Item 12: peers that connect and never read their hello. At most 16 such
 * hellos (and their descriptors) are in flight; a reader past that is told
 * to try again (-EAGAIN), not failed with a misleading error; after 10 s
 * the idle peers are disconnected and readers are served again. */
static void test_unread_handshakes(void **unused)
{
	(void)unused;
	enum { IDLE = 16 };
	struct log_count log;
	char name[64];
	int idle[IDLE];
	struct mmsync_writer *w = writer_new("unread", 32, &log);
	writer_listen(w, name, sizeof(name), NULL, 0);
	publish(w, 1);
	struct sockaddr_un sa;
	socklen_t salen;
	assert_int_equal(fdpass_addr(name, &sa, &salen), 0);
	uint64_t t0 = now_ms(); /* before the first hello is sent */
	for (int i = 0; i < IDLE; i++) {
		idle[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(idle[i], (struct sockaddr *)&sa, salen), 0);
		struct pollfd p = { .fd = idle[i], .events = POLLIN };
		assert_true(DISPATCH_UNTIL(w, poll(&p, 1, 0) == 1, 10000)); /* its hello, unread */
	}
	pid_t pid = test_fork();
	if (pid == 0)
		_exit(connect_once(name));
	assert_int_equal(dispatch_wait(w, pid, 20000), EAGAIN);
	assert_non_null(strstr(log.last, "still unread"));

	/* Past the timeout the idle peers are disconnected... */
	struct pollfd p = { .fd = idle[0], .events = POLLRDHUP };
	assert_true(DISPATCH_UNTIL(w, poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)),
				   30000));
	assert_true(now_ms() - t0 >= 10000); /* not before its time */
	assert_non_null(strstr(log.last, "did not read its handshake"));
	/* ... and a reader is served again. */
	pid = test_fork();
	if (pid == 0)
		_exit(connect_once(name));
	assert_int_equal(dispatch_wait(w, pid, 20000), 0);
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_reopen_refused),
		test_case(test_socket_path_not_removed),
		test_case(test_connect_flood),
		test_case(test_writer_short_of_descriptors),
		test_case(test_unread_handshakes),
	};
	return test_run(tests);
}
