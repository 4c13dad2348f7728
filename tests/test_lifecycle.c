/* SPDX-License-Identifier: MIT */
/*
 * The native layout's lifecycle around the read protocol, across processes:
 *  - a new generation takes effect when its first version is published: a
 *    reader connecting during a growing write, or after one failed or was
 *    aborted, reads the version published;
 *  - a writer that cannot issue membarrier(2) serves no fenceless reader,
 *    and one that loses it revokes its fenceless readers, who are told and
 *    read fenced from then on; eviction needs no barrier;
 *  - a live reader whose connection fails is revoked, not dropped: its
 *    open view is still protected or told, and its next read says so.
 *
 * Each step is driven through pipes: the test, not the scheduler, decides
 * what overlaps what. Children are made with test_fork() (harness.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "harness.h"
#include "mmsync.h"

#define GRACE_NS 50000000ull /* 50 ms: only where eviction is what is tested */
#define STEP_MS (TEST_DEADLINE_S * 1000) /* a step that takes longer has failed */

/* ---- children and the pipes that drive them (harness.h: spawn, say) ---- */

/* The next byte on @fd, serving @w (if any) while waiting. Return: the
 * byte, or -1 after STEP_MS or at end of file. */
static int hear(int fd, struct mmsync_writer *w)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t deadline = now_ns() + STEP_MS * 1000000ull;
	char c;

	while (now_ns() < deadline) {
		if (w)
			mmsync_writer_dispatch(w);
		int n = poll(&p, 1, w ? 2 : 50);
		if (n > 0)
			return read(fd, &c, 1) == 1 ? c : -1;
	}
	return -1;
}

/* A child's end: 0, or the step that failed. */
static int reap(pid_t pid, struct mmsync_writer *w)
{
	int status;
	uint64_t deadline = now_ns() + STEP_MS * 1000000ull;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 || now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		if (w)
			mmsync_writer_dispatch(w);
		sleep_ns(1000000);
	}
	test_child_forget(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void sock_name(char *buf, size_t n, const char *what)
{
	static int k;
	snprintf(buf, n, "@mmsync-life-%d-%s-%d", (int)getpid(), what, k++);
}

/* The writer's log, counted by what it says. */
struct log {
	int lines, revoked, membarrier;
	char last[256];
};

static void log_line(void *ctx, const char *msg)
{
	struct log *l = ctx;
	l->lines++;
	l->revoked += strstr(msg, "revoked") != NULL;
	l->membarrier += strstr(msg, "membarrier") != NULL;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

static struct mmsync_writer *serve(const char *sock, uint64_t capacity, struct log *log)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity, .flags = MMSYNC_BPF_OFF,
		    .log = log ? log_line : NULL, .log_ctx = log);
	assert_int_equal(mmsync_writer_create(&w, uniq("life"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	return w;
}

static int publish(struct mmsync_writer *w, uint8_t *buf, size_t len, uint64_t seq)
{
	payload_fill(buf, len, seq);
	return mmsync_write(w, buf, len, GRACE_NS, NULL);
}

/* Reads once: 0 if the version is @seq, @len bytes, whole. */
static int read_is(struct mmsync_reader *r, uint64_t seq, size_t len)
{
	struct mmsync_view v;
	uint64_t got;
	int err = mmsync_read_begin(r, &v);
	if (err)
		return err;
	bool ok = v.len == len && payload_check(v.data, v.len, &got) && got == seq;
	err = mmsync_read_end(r, &v);
	return err ? err : ok ? 0 : -EILSEQ;
}

/* A reader in this process, from exported descriptors: the writer's
 * figures without a connection (which this process could not serve). */
static struct mmsync_reader *table_reader(struct mmsync_writer *w)
{
	struct mmsync_reader *r;
	int fds[MMSYNC_NR_FDS];
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	return r;
}

static bool fenceless(struct mmsync_reader *r)
{
	/* The inline read path's own word (include/mmsync_read.h). */
	return ((struct mmsync_read_fast *)r)->mode & MMSYNC_FAST_FENCELESS;
}

/* ---- 1. generations take effect at publish ---- */

/* Child: connect, read once, expect @seq of @len bytes and @generation. */
static int connect_and_read(const char *sock, uint64_t seq, size_t len, uint64_t generation)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	if (mmsync_reader_connect(&r, sock, NULL))
		return 3;
	int err = read_is(r, seq, len);
	if (err) {
		fprintf(stderr, "reader: %s\n", mmsync_strerror(err));
		return 4;
	}
	if (mmsync_reader_stat(r, &st) || st.generation != generation)
		return 5;
	mmsync_reader_close(r);
	return 0;
}

static int reader_during(struct mmsync_writer *w, const char *sock, uint64_t seq, size_t len,
			 uint64_t generation)
{
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0)
		_exit(connect_and_read(sock, seq, len, generation));
	link_close(&l);
	return reap(pid, w);
}

static void test_generation_at_publish(void **unused)
{
	(void)unused;
	char sock[64];
	static uint8_t buf[256 << 10];
	void *p;

	sock_name(sock, sizeof(sock), "gen");
	struct mmsync_writer *w = serve(sock, 64 << 10, NULL);
	assert_int_equal(publish(w, buf, 1000, 1), 0);

	/* A reader connected before: it must see the new generation when it
	 * is published, and only then. */
	struct link l;
	pid_t early = spawn(&l);
	if (early == 0) {
		struct mmsync_reader *r;
		if (mmsync_reader_connect(&r, sock, NULL))
			_exit(3);
		say(l.ack[1], 'c');
		for (int k = 0; hear(l.cmd[0], NULL) == 'r'; k++) {
			/* steps: v1 three times (growing writes under way, failed,
			 * aborted), then v2 of the new generation */
			int err = k < 3 ? read_is(r, 1, 1000) : read_is(r, 2, 200 << 10);
			say(l.ack[1], err ? 'x' : 'o');
		}
		mmsync_reader_close(r);
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0], w), 'c');

	/* Between write_begin and its commit, the new copies are the writer's. */
	assert_int_equal(mmsync_write_begin(w, 200 << 10, GRACE_NS, &p), 0);
	payload_fill(p, 200 << 10, 2);
	assert_int_equal(reader_during(w, sock, 1, 1000, 1), 0);
	say(l.cmd[1], 'r');
	assert_int_equal(hear(l.ack[0], w), 'o');

	/* A growing write that fails: nothing changed. */
	assert_int_equal(mmsync_write_abort(w), 0);
	char path[] = "/dev/shm/mmsync-life-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, buf, 100), 100);
	assert_int_equal(mmsync_write_from_fd(w, fd, 0, 300 << 10, GRACE_NS, NULL), -ENODATA);
	close(fd);
	assert_int_equal(reader_during(w, sock, 1, 1000, 1), 0);
	say(l.cmd[1], 'r');
	assert_int_equal(hear(l.ack[0], w), 'o');

	/* An aborted one: nothing changed either, for good. */
	assert_int_equal(mmsync_write_begin(w, 200 << 10, GRACE_NS, &p), 0);
	assert_int_equal(mmsync_write_abort(w), 0);
	assert_int_equal(reader_during(w, sock, 1, 1000, 1), 0);
	say(l.cmd[1], 'r');
	assert_int_equal(hear(l.ack[0], w), 'o');

	/* Published: every reader, old and new, reads generation 2. */
	assert_int_equal(mmsync_write_begin(w, 200 << 10, GRACE_NS, &p), 0);
	payload_fill(p, 200 << 10, 2);
	assert_int_equal(mmsync_write_commit(w, 200 << 10, NULL), 0);
	say(l.cmd[1], 'r');
	assert_int_equal(hear(l.ack[0], w), 'o');
	assert_int_equal(reader_during(w, sock, 2, 200 << 10, 2), 0);
	say(l.cmd[1], 'q');
	assert_int_equal(reap(early, w), 0);
	link_close(&l);
	mmsync_writer_close(w);
}

/* ---- 2. the writer's membarrier ---- */

/* A writer child, seccomp forbidding it membarrier(2) from the start if
 * @forbid. It publishes version 1, then one more per 'p' ('s': seccomp
 * first), and exits at 'q' with 0 if its log spoke of membarrier
 * @membarrier_lines times. */
static __attribute__((noreturn)) void writer_child(struct link *l, const char *sock, bool forbid,
						   int membarrier_lines)
{
	static uint8_t buf[4096];
	struct log log = { 0 };
	uint64_t seq = 0;
	int c;

	if (forbid && forbid_membarrier())
		_exit(10);
	struct mmsync_writer *w = serve(sock, 4096, &log);
	if (publish(w, buf, 100, ++seq))
		_exit(3);
	say(l->ack[1], 'w');
	while ((c = hear(l->cmd[0], w)) == 'p' || c == 's') {
		if (c == 's' && forbid_membarrier())
			_exit(10); /* from now on, every membarrier fails */
		say(l->ack[1], publish(w, buf, 100, ++seq) ? 'x' : 'o');
	}
	_exit(c != 'q' ? 4 : log.membarrier != membarrier_lines ? 5 : 0);
}

static void test_writer_without_membarrier(void **unused)
{
	(void)unused;
	char sock[64];
	struct link l;
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_stat st = { .sz = sizeof(st) };

	sock_name(sock, sizeof(sock), "nobar");
	pid_t pid = spawn(&l);
	if (pid == 0) /* one line at creation; evicting needs no barrier: no more */
		writer_child(&l, sock, true, 1);
	int c = hear(l.ack[0], NULL);
	if (c == -1 && reap(pid, NULL) == 10)
		test_skip_or_fail("cannot install a seccomp filter");
	assert_int_equal(c, 'w');

	/* No fenceless reader for a writer that cannot issue the barrier. */
	MMSYNC_OPTS(mmsync_reader_opts, must, .flags = MMSYNC_FENCELESS);
	assert_int_equal(mmsync_reader_connect(&r, sock, &must), -ENOTSUP);
	assert_int_equal(mmsync_reader_connect(&r, sock, NULL), 0);
	assert_false(fenceless(r));
	assert_int_equal(read_is(r, 1, 100), 0);

	/* A fenced reader held past the grace period is evicted and told,
	 * without a barrier. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	say(l.cmd[1], 'p'); /* fills the other copy */
	assert_int_equal(hear(l.ack[0], NULL), 'o');
	say(l.cmd[1], 'p'); /* fills ours: evicts us after the grace period */
	assert_int_equal(hear(l.ack[0], NULL), 'o');
	assert_int_equal(mmsync_read_end(r, &v), -ESTALE);
	assert_int_equal(read_is(r, 3, 100), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers, 0);
	assert_int_equal(st.evictions, 1);
	mmsync_reader_close(r);
	say(l.cmd[1], 'q');
	assert_int_equal(reap(pid, NULL), 0);
	link_close(&l);
}

static void test_writer_loses_membarrier(void **unused)
{
	(void)unused;
	char sock[64];
	struct link l;
	struct mmsync_reader *r, *late;
	struct mmsync_view v;
	struct mmsync_stat st = { .sz = sizeof(st) };

	sock_name(sock, sizeof(sock), "lostbar");
	pid_t pid = spawn(&l);
	if (pid == 0) /* one line says what happened, once */
		writer_child(&l, sock, false, 1);
	assert_int_equal(hear(l.ack[0], NULL), 'w');
	assert_int_equal(mmsync_reader_connect(&r, sock, NULL), 0);
	assert_true(fenceless(r));
	say(l.cmd[1], 'p'); /* seq 2: a barrier issued */
	assert_int_equal(hear(l.ack[0], NULL), 'o');
	assert_int_equal(read_is(r, 2, 100), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers, 1);

	say(l.cmd[1], 's'); /* seq 3: its barrier fails */
	int c = hear(l.ack[0], NULL);
	if (c == -1 && reap(pid, NULL) == 10)
		test_skip_or_fail("cannot install a seccomp filter");
	assert_int_equal(c, 'o');
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers, 1); /* only barriers issued count */
	assert_int_equal(st.membarrier_failures, 1);

	/* A view of the current copy, open while the writer fills the other:
	 * the writer need not wait for it, but it cannot know that a fenceless
	 * arrival it does not see is not on the copy it fills, so the view is
	 * told. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	say(l.cmd[1], 'p'); /* seq 4 */
	assert_int_equal(hear(l.ack[0], NULL), 'o');
	assert_int_equal(mmsync_read_end(r, &v), -ESTALE);
	/* ... and the reader reads fenced from then on, told no more. */
	assert_int_equal(read_is(r, 4, 100), 0);
	assert_false(fenceless(r));
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	say(l.cmd[1], 'p'); /* seq 5 */
	assert_int_equal(hear(l.ack[0], NULL), 'o');
	assert_int_equal(mmsync_read_end(r, &v), 0);

	/* New readers go fenced. */
	MMSYNC_OPTS(mmsync_reader_opts, must, .flags = MMSYNC_FENCELESS);
	assert_int_equal(mmsync_reader_connect(&late, sock, &must), -ENOTSUP);
	assert_int_equal(mmsync_reader_connect(&late, sock, NULL), 0);
	assert_false(fenceless(late));
	assert_int_equal(read_is(late, 5, 100), 0);
	mmsync_reader_close(late);
	mmsync_reader_close(r);
	say(l.cmd[1], 'q');
	assert_int_equal(reap(pid, NULL), 0);
	link_close(&l);
}

/* ---- 3. readers whose connection fails while they live ---- */


static void revoked_case(bool hang_up)
{
	char sock[64];
	struct link l;
	struct log log = { 0 };
	static uint8_t buf[4096];

	sock_name(sock, sizeof(sock), "revoke");
	struct mmsync_writer *w = serve(sock, 4096, &log);
	assert_int_equal(publish(w, buf, 1000, 1), 0);
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		int s = own_socket();
		if (s < 0 || (hang_up ? shutdown(s, SHUT_WR) : (int)send(s, "?", 1, 0) - 1))
			_exit(4);
		say(l.ack[1], 'h'); /* holding a view of seq 1, connection failed */
		if (hear(l.cmd[0], NULL) != 'e')
			_exit(5);
		bool whole = payload_check(v.data, v.len, &seq) && seq == 1;
		int err = mmsync_read_end(r, &v);
		/* The writer filled our copy twice over: we are told. */
		if (err != -ESTALE)
			_exit(whole ? 6 : 7);
		if (mmsync_read_begin(r, &v) != -ECONNRESET || mmsync_read_begin(r, &v) != -ECONNRESET)
			_exit(8); /* told at every begin */
		if (mmsync_reader_check(r) != -ECONNRESET)
			_exit(9);
		mmsync_reader_close(r);
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0], w), 'h');
	/* The writer hears of it (and says so). */
	for (uint64_t t0 = now_ns(); !log.lines && now_ns() - t0 < STEP_MS * 1000000ull;)
		mmsync_writer_dispatch(w);
	/* seq 2 fills the other copy, seq 3 the reader's: its slot still
	 * holds the write up until the grace period evicts it. */
	struct mmsync_write_info info;
	assert_int_equal(publish(w, buf, 1000, 2), 0);
	payload_fill(buf, 1000, 3);
	assert_int_equal(mmsync_write(w, buf, 1000, GRACE_NS, &info), 0);
	assert_int_equal(info.evicted, 1); /* it waited for the revoked reader */
	say(l.cmd[1], 'e');
	assert_int_equal(reap(pid, w), 0);
	link_close(&l);
	assert_int_equal(log.revoked, 1);

	/* Gone now: its slot is taken back, a disconnect (it closed its
	 * reader before it exited), not a dead reader. */
	struct mmsync_reader *r = table_reader(w);
	struct mmsync_stat st = { .sz = sizeof(st) };
	for (uint64_t t0 = now_ns(); now_ns() - t0 < STEP_MS * 1000000ull;) {
		mmsync_writer_dispatch(w);
		assert_int_equal(mmsync_reader_stat(r, &st), 0);
		if (st.disconnects == 1 && st.live_slots == 1)
			break;
		sleep_ns(1000000);
	}
	assert_int_equal(st.live_slots, 1);
	assert_int_equal(st.disconnects, 1);
	assert_int_equal(st.reclaimed, 0);
	assert_int_equal(read_is(r, 3, 1000), 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

static void test_reader_sends_data(void **unused)
{
	(void)unused;
	revoked_case(false);
}

static void test_reader_hangs_up(void **unused)
{
	(void)unused;
	revoked_case(true);
}

/* ---- 4. a dead reader is taken back, never evicted ---- */

/* The writer first saw the reader's arrival longer than the grace period
 * ago (a reader of the current copy does not hold a write up); it dies in
 * its view; the next write over its copy probes it before it would evict
 * it, and takes its slot back. */
static void test_dead_reader_not_evicted(void **unused)
{
	(void)unused;
	char sock[64];
	struct link l;
	struct mmsync_write_info info;
	static uint8_t buf[4096];

	sock_name(sock, sizeof(sock), "dead");
	struct mmsync_writer *w = serve(sock, 4096, NULL);
	assert_int_equal(publish(w, buf, 1000, 1), 0);
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		say(l.ack[1], 'h');
		for (;;)
			pause(); /* killed inside its view */
	}
	assert_int_equal(hear(l.ack[0], w), 'h');
	assert_int_equal(publish(w, buf, 1000, 2), 0); /* the other copy: sees the arrival */
	sleep_ns(2 * GRACE_NS);
	kill(pid, SIGKILL);
	assert_int_equal(reap(pid, NULL), 128 + SIGKILL);
	link_close(&l);
	payload_fill(buf, 1000, 3);
	assert_int_equal(mmsync_write(w, buf, 1000, GRACE_NS, &info), 0); /* its copy */
	assert_int_equal(info.evicted, 0);

	struct mmsync_reader *r = table_reader(w);
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.reclaimed, 1);
	assert_int_equal(st.evictions, 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_generation_at_publish),
		test_case(test_writer_without_membarrier),
		test_case(test_writer_loses_membarrier),
		test_case(test_reader_sends_data),
		test_case(test_reader_hangs_up),
		test_case(test_dead_reader_not_evicted),
	};
	return test_run(tests);
}
