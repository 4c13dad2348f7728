/* SPDX-License-Identifier: MIT */
/* What a writer the reader does not trust can no longer make it do: a
 * squatter of another uid on the socket name is refused unless named, and
 * a header that claims every page exists does not make the reader fault
 * (and allocate) them. The writers are hand-built handshakes (hs_make()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

#include <inttypes.h>

#define SQUATTER_UID 54321

static char logged[1024];

static void log_to_buffer(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(logged, sizeof(logged), "%s", msg);
}

/* Listens on @name as uid @uid (when not 0) and hands @s to each of @n
 * connections; exits when the last one closes. In a child. */
static void serve_hs(const struct hs *s, const char *name, uid_t uid, int n, int ready)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int fds[4];

	if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
		_exit(CHILD_SETUP);
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || fdpass_addr(name, &sa, &salen) || bind(lfd, (struct sockaddr *)&sa, salen) ||
	    listen(lfd, 8))
		_exit(CHILD_SETUP);
	if (write(ready, "r", 1) != 1)
		_exit(CHILD_SETUP);
	hs_fds(s, fds);
	for (int i = 0; i < n; i++) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			_exit(CHILD_SETUP);
		/* A reader that refused this writer may have hung up already. */
		fdpass_send(conn, &s->m, sizeof(s->m), fds, 4);
		char c;
		while (read(conn, &c, 1) > 0) /* until the reader closes */
			;
		close(conn);
	}
	_exit(0);
}

static pid_t start_server(const struct hs *s, const char *name, uid_t uid, int n)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		close(p[0]);
		serve_hs(s, name, uid, n, p[1]);
	}
	close(p[1]);
	read_byte(p[0], "the fake writer");
	close(p[0]);
	return pid;
}

/* Item 8: anyone can bind an abstract name first. A reader refuses a
 * writer of another uid (-EPERM, logged with the uid) unless it names that
 * uid (trust_uid) or vouches for the path (MMSYNC_ANY_WRITER). */
static void test_squatter(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("a writer of another uid needs root (setuid)");
	struct hs s;
	char name[64];
	struct mmsync_reader *r;

	hs_make(&s);
	sock_name(name, sizeof(name));
	pid_t srv = start_server(&s, name, SQUATTER_UID, 3);

	MMSYNC_OPTS(mmsync_reader_opts, dflt, .log = log_to_buffer);
	logged[0] = 0;
	assert_int_equal(mmsync_reader_connect(&r, name, &dflt), -EPERM);
	assert_null(r);
	assert_non_null(strstr(logged, "runs as uid 54321"));

	MMSYNC_OPTS(mmsync_reader_opts, named, .trust_uid = SQUATTER_UID);
	assert_int_equal(mmsync_reader_connect(&r, name, &named), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	mmsync_reader_close(r);

	MMSYNC_OPTS(mmsync_reader_opts, any, .flags = MMSYNC_ANY_WRITER);
	assert_int_equal(mmsync_reader_connect(&r, name, &any), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	mmsync_reader_close(r);
	assert_int_equal(wait_child(srv), 0);

	/* A writer of this process's own uid, or root, needs no option. */
	srv = start_server(&s, name, 0, 1);
	assert_int_equal(mmsync_reader_connect(&r, name, NULL), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	mmsync_reader_close(r);
	assert_int_equal(wait_child(srv), 0);
	hs_free(&s);
}

static uint64_t allocated(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Item 9: a header claiming both copies are populated to their 64 MiB
 * capacity makes the reader fault in only what the version it reads needs
 * (before: all of both copies, 128 MiB of shmem the writer never
 * allocated, charged to whoever holds the memfds). */
static void test_populate_bounded(void **unused)
{
	(void)unused;
	struct hs s;
	char name[64];
	struct mmsync_reader *r;
	const uint64_t cap = 64u << 20;

	hs_make_sized(&s, cap);
	s.h->populated[0] = s.h->populated[1] = cap;
	uint64_t before0 = allocated(s.copy_rw[0]), before1 = allocated(s.copy_rw[1]);
	assert_true(before1 <= 2 * 4096); /* the version's page(s) */
	sock_name(name, sizeof(name));
	pid_t srv = start_server(&s, name, 0, 1);
	assert_int_equal(mmsync_reader_connect(&r, name, NULL), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	mmsync_reader_close(r);
	assert_int_equal(wait_child(srv), 0);
	print_message("allocated after a read: copy 0 %" PRIu64 " bytes, copy 1 %" PRIu64 "\n",
		      allocated(s.copy_rw[0]), allocated(s.copy_rw[1]));
	assert_int_equal(allocated(s.copy_rw[0]), before0);
	assert_int_equal(allocated(s.copy_rw[1]), before1);
	hs_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_squatter),
		test_case(test_populate_bounded),
	};
	return test_run(tests);
}
