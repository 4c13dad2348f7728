/* SPDX-License-Identifier: MIT */
/* The writer's allow-list of uids: a peer outside it is refused, logged once
 * and told so on the wire, and the writer keeps serving the others. Needs
 * root: the readers drop to other uids (and gids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

#define NOBODY 65534

/* ---- the allow-list ---- */

/* A writer allowing @uid only: a child as @refused_uid is refused (logged
 * once), then a child as @good_uid connects and reads. */
static void allow_list_case(uid_t allowed, int refused_uid, int good_uid)
{
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(sizeof(*c));
	struct mmsync_writer *w = writer_new("hs-allow", 8, &log);

	writer_listen(w, name, sizeof(name), &allowed, 1);
	publish(w, 1);

	pid_t pid = spawn_reader(c, name, refused_uid);
	assert_int_equal(reader_connected(w, c), -ECONNREFUSED);
	assert_int_equal(dispatch_wait(w, pid, 10000), ECONNREFUSED);
	assert_int_equal(log.refused, 1);
	assert_non_null(strstr(log.last, "allow-list"));
	char uidstr[32];
	snprintf(uidstr, sizeof(uidstr), "uid %d ", refused_uid < 0 ? 0 : refused_uid);
	assert_non_null(strstr(log.last, uidstr));

	/* A second refused peer: one more line, no more. Root is refused
	 * here: see it on the wire, from this process. */
	if (refused_uid < 0) {
		check_raw_refusal(w, name, EACCES);
	} else {
		pid = spawn_reader(c, name, refused_uid);
		assert_int_equal(reader_connected(w, c), -ECONNREFUSED);
		assert_int_equal(dispatch_wait(w, pid, 10000), ECONNREFUSED);
	}
	assert_int_equal(log.refused, 2);

	/* The writer keeps serving. */
	pid = spawn_reader(c, name, good_uid);
	assert_int_equal(reader_connected(w, c), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == 1, 10000));
	publish_seen(w, c, 2);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	assert_int_equal(reader_finish(w, c, pid), 0);
	assert_int_equal(log.refused, 2);
	assert_int_equal(log.other, 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
}

static void test_allow_root_refused(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	/* Root is not in { 12345 }; uid 12345 is. */
	allow_list_case(12345, -1, 12345);
}

static void test_allow_nobody_refused(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	allow_list_case(0, NOBODY, -1);
}

static void test_allow_nobody_allowed(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	/* { 65534 }: nobody gets in, root does not. */
	allow_list_case(NOBODY, -1, NOBODY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_allow_root_refused),
		test_case(test_allow_nobody_refused),
		test_case(test_allow_nobody_allowed),
	};
	signal(SIGPIPE, SIG_IGN);
	return test_run(tests);
}
