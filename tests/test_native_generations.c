/* SPDX-License-Identifier: MIT */
/* Native generations: a payload above the capacity makes new copies, which
 * connected readers take up by themselves and readers made from descriptors
 * are told of (-ESTALE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "native_test.h"

/* A payload above the capacity: connected readers take the new copies up
 * by themselves; readers made from descriptors are told -ESTALE. */
static void test_generations(void **unused)
{
	(void)unused;
	char sock[64];
	struct mmsync_reader *inherited;
	struct mmsync_view v;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int fds[MMSYNC_NR_FDS];
	static uint8_t buf[3 << 20];
	uint64_t seq = 0; /* gcc (arm64) cannot tell a failed assert_true() never returns */

	sock_name(sock, sizeof(sock), "gen");
	struct mmsync_writer *w = serve("gen", sock, 64 << 10, 0);
	payload_fill(buf, 1000, 1);
	assert_int_equal(mmsync_write(w, buf, 1000, 1000000000ull, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&inherited, fds, NULL), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	/* A connected reader reading flat out while the generations change:
	 * connected before they do (it says so), reading until it has read
	 * the last. */
	int connected[2];
	assert_int_equal(pipe(connected), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct reader_result res = { 0 };
		uint64_t last = 0;
		if (mmsync_reader_connect(&r, sock, NULL) || checked_read(r, &res, &last) ||
		    write(connected[1], "c", 1) != 1)
			_exit(3);
		for (uint64_t until = test_deadline(); last < 3 && now_ns() < until;)
			if (checked_read(r, &res, &last))
				_exit(4);
		struct mmsync_stat s = { .sz = sizeof(s) };
		if (mmsync_reader_stat(r, &s) || s.generation != 3)
			_exit(5);
		mmsync_reader_close(r);
		if (last != 3 || res.torn || res.errors || res.stale) {
			print_reader(-1, &res);
			_exit(6);
		}
		_exit(0);
	}
	close(connected[1]);
	dispatch_until_word(w, connected[0], "the connected reader");
	close(connected[0]);

	assert_int_equal(mmsync_read_begin(inherited, &v), 0);
	assert_int_equal(v.len, 1000);
	assert_int_equal(mmsync_read_end(inherited, &v), 0);

	payload_fill(buf, 200 << 10, 2); /* > 64 KiB: generation 2 */
	assert_int_equal(mmsync_write(w, buf, 200 << 10, 1000000000ull, NULL), 0);
	payload_fill(buf, sizeof(buf), 3); /* generation 3 */
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 1000000000ull, NULL), 0);
	assert_int_equal(dispatch_until_exit(w, pid), 0);

	assert_int_equal(mmsync_read_begin(inherited, &v), -ESTALE);
	assert_int_equal(mmsync_reader_stat(inherited, &st), 0);
	assert_int_equal(st.generation, 3);
	assert_true(st.capacity >= sizeof(buf));
	mmsync_reader_close(inherited);

	/* A new reader from descriptors of the new generation reads it whole. */
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&inherited, fds, NULL), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	assert_int_equal(mmsync_read_begin(inherited, &v), 0);
	assert_int_equal(v.len, sizeof(buf));
	assert_true(payload_check(v.data, v.len, &seq));
	assert_int_equal(seq, 3);
	assert_int_equal(mmsync_read_end(inherited, &v), 0);
	mmsync_reader_close(inherited);
	mmsync_writer_close(w);
}

/* A reader connected before two generations change reads the last one at
 * its next read_begin, without a word from its caller. */
static void test_generations_connected(void **unused)
{
	(void)unused;
	char sock[64];
	static uint8_t buf[3 << 20];

	sock_name(sock, sizeof(sock), "gen2");
	struct mmsync_writer *w = serve("gen2", sock, 64 << 10, 0);
	payload_fill(buf, 1000, 1);
	assert_int_equal(mmsync_write(w, buf, 1000, 0, NULL), 0);
	int ready[2], go[2];
	char c;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		if (mmsync_reader_connect(&r, sock, NULL) || write(ready[1], "r", 1) != 1)
			_exit(3);
		/* wait for the writer to be two generations on */
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		if (mmsync_read_begin(r, &v))
			_exit(5);
		bool ok = v.len == sizeof(buf) && payload_check(v.data, v.len, &seq) && seq == 3 &&
			  v.seq == 3;
		if (mmsync_read_end(r, &v))
			_exit(6);
		struct mmsync_stat s = { .sz = sizeof(s) };
		if (mmsync_reader_stat(r, &s) || s.generation != 3)
			_exit(7);
		mmsync_reader_close(r);
		_exit(ok ? 0 : 8);
	}
	close(ready[1]);
	close(go[0]);
	dispatch_until_word(w, ready[0], "the reader");
	payload_fill(buf, 200 << 10, 2);
	assert_int_equal(mmsync_write(w, buf, 200 << 10, 0, NULL), 0);
	payload_fill(buf, sizeof(buf), 3);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(wait_child(pid), 0);
	close(ready[0]);
	close(go[1]);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_generations),
		test_case(test_generations_connected),
	};
	return test_run(tests);
}
