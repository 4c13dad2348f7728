/* SPDX-License-Identifier: MIT */
/*
 * The native layout across real processes: torn reads (self-verifying
 * payloads, see harness.h), generations, readers SIGKILLed at random points,
 * a reader stopped inside a view past the grace period, a hostile reader,
 * a sandboxed reader with no file system, and hugetlb copies.
 *
 * The writer lives in the test process, or in a child that loops on
 * write + dispatch; readers are forked children reporting through shared
 * counters. MMSYNC_TEST_SECONDS sets the length of the timed runs (default 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "fdpass.h"
#include "harness.h"
#include "mmsync.h"
#include "native_layout.h"

#define MAX_PAYLOAD (1u << 20)

struct reader_result {
	uint64_t reads, torn, backwards, stale, errors;
	uint64_t long_views;	/* views held for the grace period or longer */
	uint64_t early_stale;	/* -ESTALE after a shorter view (see checked_read) */
	int last_error;
};

/* The grace period of the writer that the readers of a test read from, set
 * before they are forked: a reader is told -ESTALE only for a view it held
 * this long (0: not checked). */
static uint64_t reader_grace_ns;

struct shared {
	_Atomic int stop;
	_Atomic uint64_t connected;
	_Atomic uint64_t writes, evicted, last_seq;
	_Atomic uint64_t max_write_ns;	/* less the time the writer waited for a CPU */
	struct reader_result reader[8];
};





static void sock_name(char *buf, size_t n, const char *what)
{
	static int k;
	snprintf(buf, n, "@mmsync-test-%d-%s-%d", (int)getpid(), what, k++);
}

/*
 * One read, checked. Return: 0, 1 for a torn read, or the error.
 *
 * An honest reader is evicted only once the writer has seen its arrival
 * for the grace period, so a view that ends -ESTALE was held at least that
 * long: on a loaded machine that happens to a reader descheduled inside a
 * view, and is counted (stale, long_views), not a failure. A shorter view
 * told -ESTALE is (early_stale), but for one right after a view that was
 * told: a slot evicted in a write is evicted again at once if it holds the
 * same write up again (wait_indicator()).
 */
static int checked_read(struct mmsync_reader *r, struct reader_result *res, uint64_t *last_seq)
{
	static bool last_stale;
	struct mmsync_view v;
	uint64_t seq = 0, t0 = now_ns();
	int err = mmsync_read_begin(r, &v);
	if (err == -ENODATA)
		return 0;
	if (err) {
		res->errors++;
		res->last_error = err;
		return err;
	}
	bool whole = v.len == mmsync_version_size(v.version) && payload_check(v.data, v.len, &seq);
	/* The writer's sequence number is in every payload of 8 bytes or more. */
	bool same_seq = v.len < 8 || seq == v.seq;
	uint64_t vseq = v.seq;
	err = mmsync_read_end(r, &v);
	bool held_long = now_ns() - t0 >= reader_grace_ns;
	res->long_views += reader_grace_ns && held_long;
	if (err == -ESTALE) {
		res->stale++;
		res->early_stale += reader_grace_ns && !held_long && !last_stale;
		last_stale = true;
		return 0;
	}
	last_stale = false;
	if (err) {
		res->errors++;
		res->last_error = err;
		return err;
	}
	if (!whole || !same_seq) {
		res->torn++;
		return 1;
	}
	if (vseq < *last_seq)
		res->backwards++;
	*last_seq = vseq;
	res->reads++;
	return 0;
}

static void reader_loop_flags(const char *sock, struct shared *sh, struct reader_result *res,
			      unsigned flags)
{
	struct mmsync_reader *r;
	uint64_t last = 0;
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = flags);
	int err = mmsync_reader_connect(&r, sock, &ro);
	if (err) {
		res->last_error = err;
		_exit(3);
	}
	atomic_fetch_add(&sh->connected, 1);
	while (!atomic_load(&sh->stop))
		checked_read(r, res, &last);
	mmsync_reader_close(r);
	_exit(0);
}

static void reader_loop(const char *sock, struct shared *sh, struct reader_result *res)
{
	reader_loop_flags(sock, sh, res, 0);
}

/* Publishes payloads of random size until told to stop, serving readers
 * between writes. Sizes up to @max: past the capacity, a new generation. */
static void writer_loop(struct mmsync_writer *w, struct shared *sh, size_t max, uint64_t grace_ns)
{
	uint8_t *buf = malloc(max);
	unsigned seed = 7;
	struct mmsync_write_info info;

	if (!buf)
		_exit(3);
	for (uint64_t seq = 1; !atomic_load(&sh->stop); seq++) {
		size_t len = (size_t)rand_r(&seed) % (max + 1);
		if (seq % 4 == 0)
			len %= 64;
		payload_fill(buf, len, seq);
		struct span t0 = span_start(); /* the writer's time, not the scheduler's */
		if (mmsync_write(w, buf, len, grace_ns, &info) || info.seq != seq)
			_exit(4);
		uint64_t dt = span_ns(t0);
		if (dt > atomic_load(&sh->max_write_ns))
			atomic_store(&sh->max_write_ns, dt);
		atomic_fetch_add(&sh->evicted, info.evicted);
		atomic_store(&sh->last_seq, seq);
		atomic_fetch_add(&sh->writes, 1);
		mmsync_writer_dispatch(w);
	}
	free(buf);
	_exit(0);
}

/* Serves readers until child @pid exits. Return: its status as wait_child(),
 * or -1 when it was still running after TEST_DEADLINE_S (then killed). */
static int dispatch_until_exit(struct mmsync_writer *w, pid_t pid)
{
	int status;
	pid_t r;
	uint64_t until = test_deadline();
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now_ns() > until) {
			print_message("child %d still running after %d s: killed\n", (int)pid, TEST_DEADLINE_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_child_forget(pid);
			return -1;
		}
		mmsync_writer_dispatch(w);
		sleep_ns(500000);
	}
	if (r < 0)
		return -1;
	test_child_forget(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Return: the status of child @pid (as wait_child()) if it has exited,
 * else -1. */
static int exited(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, WNOHANG) != pid)
		return -1;
	test_child_forget(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Serves readers until a child's word arrives on @fd (the caller closed
 * its copy of the write end, so a child that dies ends the wait too). */
static void dispatch_until_word(struct mmsync_writer *w, int fd, const char *what)
{
	uint64_t until = test_deadline();
	while (!fd_ready(fd, 5)) {
		if (now_ns() > until)
			fail_msg("no word from %s in %d s", what, TEST_DEADLINE_S);
		mmsync_writer_dispatch(w);
	}
	read_byte(fd, what);
}

/* Enough of a run to assert on: @writes writes, @reads reads by each of
 * the first @n readers, and @evicted evictions. */
struct enough {
	struct shared *sh;
	uint64_t writes, reads, evicted;
	int n;
};

static bool enough(void *arg)
{
	struct enough *e = arg;
	for (int i = 0; i < e->n; i++)
		if (e->sh->reader[i].reads < e->reads)
			return false;
	return atomic_load(&e->sh->writes) >= e->writes && atomic_load(&e->sh->evicted) >= e->evicted;
}

static struct mmsync_writer *serve(const char *name, const char *sock, uint64_t capacity, unsigned flags)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity, .flags = flags);
	assert_int_equal(mmsync_writer_create(&w, uniq(name), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	return w;
}

static void print_reader(int i, const struct reader_result *res)
{
	print_message("reader %d: %lu reads, %lu torn, %lu backwards, %lu stale, %lu errors (%s)\n", i,
		      (unsigned long)res->reads, (unsigned long)res->torn,
		      (unsigned long)res->backwards, (unsigned long)res->stale,
		      (unsigned long)res->errors, mmsync_strerror(res->last_error));
}

/* Two readers, one fenceless and one fenced, a writer publishing flat out,
 * payloads up to 1 MiB over copies of 256 KiB: generations change under
 * the readers too. */
static void test_no_torn_reads(void **unused)
{
	(void)unused;
	char sock[64];
	struct shared *sh = shared_map(sizeof(struct shared));
	pid_t readers[2], writer;

	sock_name(sock, sizeof(sock), "torn");
	struct mmsync_writer *w = serve("torn", sock, 256 << 10, 0);
	/* No reader holds a view for the grace period (60 s: no descheduling
	 * on a loaded machine comes near it): no eviction, no -ESTALE. */
	if ((writer = test_fork()) == 0)
		writer_loop(w, sh, MAX_PAYLOAD, 60ull * 1000000000u);
	/* The writer's child serves; the parent's copy of the handle must not. */
	for (int i = 0; i < 2; i++)
		if ((readers[i] = test_fork()) == 0)
			reader_loop_flags(sock, sh, &sh->reader[i], i ? MMSYNC_FENCED : MMSYNC_FENCELESS);
	run_until(enough, &(struct enough){ sh, 101, 101, 0, 2 });
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(wait_child(readers[i]), 0);
		print_reader(i, &sh->reader[i]);
		assert_int_equal(sh->reader[i].torn, 0);
		assert_int_equal(sh->reader[i].backwards, 0);
		assert_int_equal(sh->reader[i].stale, 0);
		assert_int_equal(sh->reader[i].errors, 0);
		assert_true(sh->reader[i].reads > 100);
	}
	assert_int_equal(wait_child(writer), 0);
	print_message("writer: %lu writes, longest %.2f ms, %lu evicted\n", (unsigned long)sh->writes,
		      (double)sh->max_write_ns / 1e6, (unsigned long)sh->evicted);
	assert_true(sh->writes > 100);
	assert_int_equal(sh->evicted, 0);
	mmsync_writer_close(w);
	munmap(sh, sizeof(*sh));
}

/* 200 readers SIGKILLed at random points while the writer writes: every
 * slot comes back, no write waits for a dead reader beyond a probe, the
 * surviving reader reads every version whole. */
static void test_killed_readers(void **unused)
{
	(void)unused;
	const uint64_t grace = 60ull * 1000000000u; /* a wait this long would be a failure */
	char sock[64];
	struct shared *sh = shared_map(sizeof(struct shared));
	unsigned seed = 3;

	sock_name(sock, sizeof(sock), "killed");
	struct mmsync_writer *w = serve("killed", sock, MAX_PAYLOAD, 0);
	pid_t writer = test_fork();
	if (writer == 0)
		writer_loop(w, sh, 64 << 10, grace);
	pid_t survivor = test_fork();
	if (survivor == 0)
		reader_loop(sock, sh, &sh->reader[0]);

	int rounds = 200;
	for (uint64_t until = test_deadline(); atomic_load(&sh->connected) < 1;) {
		if (now_ns() > until)
			fail_msg("the survivor could not connect");
		sleep_ns(100000);
	}
	for (int i = 0; i < rounds; i++) {
		uint64_t before = atomic_load(&sh->connected);
		pid_t victim = test_fork();
		if (victim == 0)
			reader_loop(sock, sh, &sh->reader[1]);
		/* Once it reads, at a random point: inside a view or between two. */
		for (uint64_t until = test_deadline(); atomic_load(&sh->connected) == before;)
			if (now_ns() > until)
				fail_msg("a reader could not connect");
		sleep_ns((uint64_t)(rand_r(&seed) % 2000) * 1000); /* 0..2 ms */
		kill(victim, SIGKILL);
		assert_int_equal(wait_child(victim), 128 + SIGKILL);
	}
	/* The writer notices the last hang-ups at its next writes: the
	 * figures are asked until they show it, within the deadline. */
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_connect(&r, sock, NULL), 0);
	for (uint64_t until = test_deadline();; sleep_ns(10 * 1000000ull)) {
		assert_int_equal(mmsync_reader_stat(r, &st), 0);
		if ((st.live_slots == 2 && st.reclaimed >= (uint64_t)rounds) || now_ns() > until)
			break;
	}
	print_message("%d readers killed; slots live %u (survivor + this one), reclaimed %lu, "
		      "evictions %lu\n", rounds, st.live_slots, (unsigned long)st.reclaimed,
		      (unsigned long)st.evictions);
	assert_int_equal(st.live_slots, 2);
	assert_true(st.reclaimed >= (uint64_t)rounds);
	assert_int_equal(st.evictions, 0);
	mmsync_reader_close(r);

	atomic_store(&sh->stop, 1);
	assert_int_equal(wait_child(survivor), 0);
	assert_int_equal(wait_child(writer), 0);
	print_reader(0, &sh->reader[0]);
	print_message("writer: %lu writes, longest %.2f ms\n", (unsigned long)sh->writes,
		      (double)sh->max_write_ns / 1e6);
	assert_int_equal(sh->reader[0].torn, 0);
	assert_int_equal(sh->reader[0].stale, 0);
	assert_int_equal(sh->reader[0].errors, 0);
	assert_int_equal(sh->reader[1].torn, 0); /* what victims read before dying */
	/* A dead reader costs a probe, never the grace period (60 s here);
	 * the writer's time, less what it waited for a CPU. */
	assert_true(sh->max_write_ns < 1000 * 1000000ull);
	mmsync_writer_close(w);
	munmap(sh, sizeof(*sh));
}

/* A reader stopped inside a view past the grace period: the writer goes on
 * after the grace period, and the reader's read_end says -ESTALE. A reader
 * reading all along is not disturbed (on a loaded machine it may itself be
 * descheduled inside a view for the grace period: then it is told, and
 * each such view may cost it one eviction). */
static void test_stopped_reader_evicted(void **unused)
{
	(void)unused;
	const uint64_t grace = 100 * 1000000ull;
	char sock[64];
	int ready[2], go[2];
	char c;
	struct mmsync_write_info info;
	struct shared *sh = shared_map(sizeof(struct shared));
	uint8_t buf[4096];

	sock_name(sock, sizeof(sock), "stopped");
	struct mmsync_writer *w = serve("stopped", sock, 1 << 20, 0);
	payload_fill(buf, sizeof(buf), 1);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), grace, &info), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	reader_grace_ns = grace;
	pid_t held = test_fork();
	if (held == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		uint64_t seq;
		bool whole = payload_check(v.data, v.len, &seq);
		int err = mmsync_read_end(r, &v);
		mmsync_reader_close(r);
		/* It was told; what it saw may be anything. */
		_exit(err == -ESTALE ? 0 : whole ? 5 : 6);
	}
	close(ready[1]);
	close(go[0]);
	pid_t honest = test_fork();
	if (honest == 0)
		reader_loop(sock, sh, &sh->reader[0]);
	dispatch_until_word(w, ready[0], "the holding reader");
	uint64_t held_since = now_ns();
	kill(held, SIGSTOP);

	/* Writes for longer than the grace period: the held copy is needed
	 * again and again (each sleep is at least 5 ms, whatever the load). */
	uint64_t evicted = 0, longest = 0, evicted_at = 0;
	for (uint64_t seq = 2; seq < 40; seq++) {
		payload_fill(buf, sizeof(buf), seq);
		struct span t0 = span_start();
		assert_int_equal(mmsync_write(w, buf, sizeof(buf), grace, &info), 0);
		uint64_t dt = span_ns(t0); /* less the time this thread waited for a CPU */
		longest = dt > longest ? dt : longest;
		if (info.evicted && !evicted)
			evicted_at = now_ns();
		evicted += info.evicted;
		mmsync_writer_dispatch(w);
		sleep_ns(5 * 1000000ull);
	}
	print_message("evicted %lu after the view was held %.1f ms; longest write %.1f ms (grace %.0f ms)\n",
		      (unsigned long)evicted, (double)(evicted_at - held_since) / 1e6,
		      (double)longest / 1e6, (double)grace / 1e6);
	/* Never before the grace period: the writer's first look at any
	 * arrival was after held_since. */
	assert_true(evicted >= 1);
	assert_true(evicted_at - held_since >= grace);
	assert_true(longest < grace + 200 * 1000000ull); /* and the writer went on */

	kill(held, SIGCONT);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(wait_child(held), 0); /* the held reader was told */
	atomic_store(&sh->stop, 1);
	assert_int_equal(wait_child(honest), 0);
	print_reader(0, &sh->reader[0]);
	assert_int_equal(sh->reader[0].torn, 0);
	assert_int_equal(sh->reader[0].errors, 0);
	assert_int_equal(sh->reader[0].early_stale, 0);
	/* Evictions: the held reader's once, and the honest one's only for a
	 * view it held for the grace period (none on a quiet machine), which
	 * may cost it a second at once in the same write (wait_indicator());
	 * each it was told of is one. */
	assert_true(evicted >= 1 + sh->reader[0].stale);
	assert_true(evicted <= 1 + 2 * sh->reader[0].long_views);
	assert_true(sh->reader[0].reads > 0);
	reader_grace_ns = 0;
	mmsync_writer_close(w);
	munmap(sh, sizeof(*sh));
	close(ready[0]);
	close(go[1]);
}

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
	uint64_t seq;

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

/* A reader with no file system at all (a new mount namespace, chrooted into
 * an empty tmpfs) reads every version through the socket, and another
 * through inherited descriptors. */
static void sandbox(void)
{
	char root[] = "/tmp/mmsync-sandbox-XXXXXX";
	if (!mkdtemp(root) || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k") ||
	    chroot(root) || chdir("/"))
		_exit(10);
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != ENOENT ||
	    open("/proc/self/fd", O_RDONLY) >= 0)
		_exit(11); /* not a sandbox */
}

static void sandboxed_reads(struct mmsync_reader *r, int ready_fd, uint64_t last)
{
	struct reader_result res = { 0 };
	uint64_t seen = 0, versions = 0;

	/* Its word once it has read the first version: whatever the
	 * scheduler does, it reads at least one more (the last). */
	while (seen < last) {
		uint64_t before = seen;
		if (checked_read(r, &res, &seen) || res.torn || res.stale)
			_exit(13);
		versions += seen != before;
		if (versions == 1 && seen != before && write(ready_fd, "r", 1) != 1)
			_exit(12);
	}
	mmsync_reader_close(r);
	_exit(versions >= 2 ? 0 : 14);
}

static void test_sandboxed_reader(void **unused)
{
	(void)unused;
	char sock[64];
	int ready[2], fds[MMSYNC_NR_FDS];
	char c;
	uint8_t buf[10000];

	sock_name(sock, sizeof(sock), "sandbox");
	struct mmsync_writer *w = serve("sandbox", sock, 1 << 20, 0);
	payload_fill(buf, sizeof(buf), 1);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);

	pid_t by_socket = test_fork();
	if (by_socket == 0) {
		struct mmsync_reader *r;
		sandbox();
		if (mmsync_reader_connect(&r, sock, NULL)) /* abstract: no file needed */
			_exit(15);
		sandboxed_reads(r, ready[1], 50);
	}
	pid_t by_fds = test_fork();
	if (by_fds == 0) {
		struct mmsync_reader *r;
		sandbox();
		if (mmsync_reader_from_fds(&r, fds, NULL))
			_exit(16);
		sandboxed_reads(r, ready[1], 50);
	}
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	close(ready[1]);
	for (uint64_t n = 0, until = test_deadline(); n < 2;) {
		mmsync_writer_dispatch(w);
		if (fd_ready(ready[0], 10) && read(ready[0], &c, 1) == 1)
			n++;
		int st = exited(by_socket);
		st = st < 0 ? exited(by_fds) : st;
		if (st == 10)
			test_skip_or_fail("cannot make a sandbox (unshare/chroot need root)");
		if (st >= 0)
			fail_msg("a sandboxed reader stopped early (%d)", st);
		if (now_ns() > until)
			fail_msg("the sandboxed readers did not read in %d s", TEST_DEADLINE_S);
	}
	for (uint64_t seq = 2; seq <= 50; seq++) {
		size_t len = (size_t)(seq * 197) % sizeof(buf);
		payload_fill(buf, len < 8 ? 8 : len, seq);
		assert_int_equal(mmsync_write(w, buf, len < 8 ? 8 : len, 1000000000ull, NULL), 0);
		mmsync_writer_dispatch(w);
		sleep_ns(2 * 1000000ull);
	}
	int a = wait_child(by_socket), b = wait_child(by_fds);
	if (a == 10 || b == 10)
		test_skip_or_fail("cannot make a sandbox (unshare/chroot need root)");
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);
	close(ready[0]);
	mmsync_writer_close(w);
}

/*
 * The security model: a reader that scribbles over all it can write, holds
 * a view forever, and reconnects in a loop changes nothing for the others
 * (no torn read, no -ESTALE) and delays each write by at most the grace
 * period.
 */
static void hostile_scribbler(const char *sock, struct shared *sh)
{
	struct sockaddr_un sa;
	socklen_t len;
	unsigned seed = (unsigned)getpid();

	fdpass_addr(sock, &sa, &len);
	while (!atomic_load(&sh->stop)) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct native_msg m;
		int fds[FDPASS_MAX_FDS];
		unsigned n = 0;
		if (connect(s, (struct sockaddr *)&sa, len) ||
		    fdpass_recv(s, &m, sizeof(m), 0, fds, 4, &n) <= 0 || n != 4) {
			close(s);
			continue;
		}
		/* Everything it can map writable: only its own slot. */
		for (int i = 0; i < 3; i++)
			if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0) != MAP_FAILED)
				_exit(20);
		volatile uint64_t *slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[3], 0);
		if (slot == MAP_FAILED)
			_exit(21);
		for (int k = 0; k < 20000 && !atomic_load(&sh->stop); k++)
			for (int j = 0; j < 512; j++)
				slot[j] = (uint64_t)rand_r(&seed) << 32 | (uint64_t)rand_r(&seed);
		if (write(s, "garbage", 7) < 0) { /* and talks when it should not */ }
		munmap((void *)slot, 4096);
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		close(s);
	}
	_exit(0);
}

static void hostile_holder(const char *sock, struct shared *sh)
{
	while (!atomic_load(&sh->stop)) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		if (mmsync_reader_connect(&r, sock, NULL) == 0 && mmsync_read_begin(r, &v) == 0)
			sleep_ns(1000 * 1000000ull); /* "forever", then again on a new slot */
		mmsync_reader_close(r); /* without read_end */
	}
	_exit(0);
}

static void test_hostile_reader(void **unused)
{
	(void)unused;
	/* An honest reader descheduled inside a view for this long on a
	 * loaded machine is evicted like the holder, and told: counted, and
	 * checked to have held its view that long (checked_read()). */
	const uint64_t grace = 500 * 1000000ull;
	char sock[64];
	struct shared *sh = shared_map(sizeof(struct shared));

	sock_name(sock, sizeof(sock), "hostile");
	struct mmsync_writer *w = serve("hostile", sock, 1 << 20, 0);
	reader_grace_ns = grace;
	pid_t writer = test_fork();
	if (writer == 0)
		writer_loop(w, sh, 256 << 10, grace);
	pid_t honest[2], scribbler, holder;
	for (int i = 0; i < 2; i++)
		if ((honest[i] = test_fork()) == 0)
			reader_loop(sock, sh, &sh->reader[i]);
	if ((scribbler = test_fork()) == 0)
		hostile_scribbler(sock, sh);
	if ((holder = test_fork()) == 0)
		hostile_holder(sock, sh);
	/* On until the holder was evicted (it holds each view for 1 s). */
	run_until(enough, &(struct enough){ sh, 11, 101, 1, 2 });
	atomic_store(&sh->stop, 1);
	assert_int_equal(wait_child(scribbler), 0);
	assert_int_equal(wait_child(holder), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(wait_child(honest[i]), 0);
		print_reader(i, &sh->reader[i]);
		assert_int_equal(sh->reader[i].torn, 0);
		assert_int_equal(sh->reader[i].early_stale, 0);
		assert_int_equal(sh->reader[i].errors, 0);
		assert_true(sh->reader[i].reads > 100);
	}
	reader_grace_ns = 0;
	assert_int_equal(wait_child(writer), 0);
	print_message("writer: %lu writes, %lu evictions, longest write %.1f ms less CPU waits (grace %.0f ms)\n",
		      (unsigned long)sh->writes, (unsigned long)sh->evicted,
		      (double)sh->max_write_ns / 1e6, (double)grace / 1e6);
	assert_true(sh->writes > 10);
	assert_true(sh->evicted > 0); /* the holder was evicted */
	assert_true(sh->max_write_ns < grace + 200 * 1000000ull);
	mmsync_writer_close(w);
	munmap(sh, sizeof(*sh));
}

/* Huge pages neither in use nor reserved by a mapping. */
static long free_huge_pages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = -1, rsvd = 0, v;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			n = v;
		if (sscanf(line, "HugePages_Rsvd: %ld", &v) == 1)
			rsvd = v;
	}
	if (f)
		fclose(f);
	return n < 0 ? -1 : n - rsvd;
}

/* Copies in hugetlb memfds: served and read like the others; too few free
 * huge pages is a clear error at creation. */
static void test_hugetlb(void **unused)
{
	(void)unused;
	char sock[64];
	uint8_t buf[100000];
	struct mmsync_writer *w;
	long free_pages = free_huge_pages();

	if (free_pages < 2)
		test_skip_or_fail("fewer than 2 free huge pages (echo 8 > /proc/sys/vm/nr_hugepages)");
	sock_name(sock, sizeof(sock), "huge");
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 1000, .flags = MMSYNC_HUGETLB);
	assert_int_equal(mmsync_writer_create(&w, uniq("huge"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	payload_fill(buf, sizeof(buf), 5);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	assert_true(free_huge_pages() <= free_pages - 2); /* both copies hold huge pages */

	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		struct mmsync_stat st = { .sz = sizeof(st) };
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		bool ok = v.len == sizeof(buf) && payload_check(v.data, v.len, &seq) && seq == 5;
		mmsync_read_end(r, &v);
		if (mmsync_reader_stat(r, &st) || st.capacity % (2 << 20))
			_exit(4); /* rounded up to the huge page size */
		_exit(ok ? 0 : 5);
	}
	assert_int_equal(dispatch_until_exit(w, pid), 0);
	mmsync_writer_close(w);

	pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w2;
		MMSYNC_OPTS(mmsync_native_opts, big, .flags = MMSYNC_HUGETLB,
			    .capacity = (uint64_t)(free_huge_pages() + 1) * (2 << 20));
		int err = mmsync_writer_create(&w2, uniq("huge-too-big"), &big);
		_exit(err == -ENOMEM ? 0 : 1);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* Copies as files in a hugetlbfs mount (which cannot be sealed: readers
 * check the file system instead). */
static void test_hugetlbfs_dir(void **unused)
{
	(void)unused;
	char dir[] = "/tmp/mmsync-hugetlbfs-XXXXXX", sock[64];
	uint8_t buf[50000];

	if (free_huge_pages() < 2)
		test_skip_or_fail("fewer than 2 free huge pages (echo 8 > /proc/sys/vm/nr_hugepages)");
	assert_non_null(mkdtemp(dir));
	if (mount("none", dir, "hugetlbfs", 0, NULL)) {
		rmdir(dir);
		test_skip_or_fail("cannot mount hugetlbfs (needs root)");
	}
	sock_name(sock, sizeof(sock), "hugetlbfs");
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .hugetlbfs_dir = dir);
	assert_int_equal(mmsync_writer_create(&w, uniq("hugetlbfs"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	payload_fill(buf, sizeof(buf), 9);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		bool ok = v.len == sizeof(buf) && payload_check(v.data, v.len, &seq) && seq == 9;
		_exit(ok && mmsync_read_end(r, &v) == 0 ? 0 : 4);
	}
	assert_int_equal(dispatch_until_exit(w, pid), 0);
	mmsync_writer_close(w);
	assert_int_equal(umount(dir), 0);
	rmdir(dir);
}

/* A listening socket handed over as systemd does (fd 3, LISTEN_PID,
 * LISTEN_FDS); without one, a clear error. */
static void test_systemd_socket(void **unused)
{
	(void)unused;
	char sock[64];

	sock_name(sock, sizeof(sock), "systemd");
	pid_t pid = test_fork();
	if (pid == 0) {
		struct sockaddr_un sa;
		socklen_t len;
		struct mmsync_writer *w;
		char n[32];
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (fd < 0 || fdpass_addr(sock, &sa, &len) || bind(fd, (struct sockaddr *)&sa, len) ||
		    listen(fd, 8) || dup2(fd, 3) != 3)
			_exit(3);
		if (fd != 3)
			close(fd);
		if (mmsync_writer_create(&w, uniq("systemd"), NULL))
			_exit(4);
		unsetenv("LISTEN_PID");
		if (mmsync_writer_listen(w, NULL, NULL) != -ENOTSOCK)
			_exit(5);
		snprintf(n, sizeof(n), "%d", (int)getpid());
		setenv("LISTEN_PID", n, 1);
		setenv("LISTEN_FDS", "1", 1);
		if (mmsync_writer_listen(w, NULL, NULL) || mmsync_write(w, "systemd", 7, 0, NULL))
			_exit(6);
		pid_t reader = test_fork();
		if (reader == 0) {
			struct mmsync_reader *r;
			struct mmsync_view v;
			if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
				_exit(7);
			_exit(v.len == 7 && !memcmp(v.data, "systemd", 7) ? 0 : 8);
		}
		int st = dispatch_until_exit(w, reader);
		mmsync_writer_close(w);
		_exit(st);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* Fenceless readers cost the writer one membarrier per write, only while
 * one is connected; a reader that cannot register reads fenced, and one
 * that demands fenceless reads is told it cannot have them. */
static void test_fenceless_accounting(void **unused)
{
	(void)unused;
	char sock[64];
	struct mmsync_stat st = { .sz = sizeof(st) };

	sock_name(sock, sizeof(sock), "fence");
	struct mmsync_writer *w = serve("fence", sock, 4096, 0);
	int ready[2], go[2];
	char c;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		/* Sandboxed: no membarrier. Fenceless refused, fenced fine. */
		struct mmsync_reader *r;
		struct mmsync_view v;
		MMSYNC_OPTS(mmsync_reader_opts, must, .flags = MMSYNC_FENCELESS);
		if (forbid_membarrier())
			_exit(10);
		if (mmsync_reader_connect(&r, sock, &must) != -ENOTSUP)
			_exit(3);
		if (mmsync_reader_connect(&r, sock, NULL) || write(ready[1], "r", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(4);
		int err = mmsync_read_begin(r, &v);
		if (err || v.len != 5 || memcmp(v.data, "fence", 5) || mmsync_read_end(r, &v))
			_exit(5);
		mmsync_reader_close(r);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	for (uint64_t until = test_deadline(); !fd_ready(ready[0], 5);) {
		int st = exited(pid);
		if (st == 10)
			test_skip_or_fail("cannot install a seccomp filter");
		if (st >= 0)
			fail_msg("the sandboxed reader stopped early (%d)", st);
		if (now_ns() > until)
			fail_msg("no word from the sandboxed reader in %d s", TEST_DEADLINE_S);
		mmsync_writer_dispatch(w);
	}
	read_byte(ready[0], "the sandboxed reader");
	for (int i = 0; i < 20; i++)
		assert_int_equal(mmsync_write(w, "fence", 5, 1000000000ull, NULL), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	int status = dispatch_until_exit(w, pid);
	if (status == 10)
		test_skip_or_fail("cannot install a seccomp filter");
	assert_int_equal(status, 0);

	/* Only a fenced reader was there: no write paid a membarrier. */
	struct mmsync_reader *r;
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	int fds[MMSYNC_NR_FDS];
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers, 0);
	mmsync_reader_close(r);

	/* A fenceless reader: every write pays one. */
	MMSYNC_OPTS(mmsync_reader_opts, fenceless, .flags = MMSYNC_FENCELESS);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenceless), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(mmsync_write(w, "fence", 5, 1000000000ull, NULL), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	print_message("membarriers: %lu for 20 writes with a fenceless reader\n",
		      (unsigned long)st.membarriers);
	assert_true(st.membarriers >= 19 && st.membarriers <= 20);
	struct mmsync_view v;
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	close(ready[0]);
	close(go[1]);
	mmsync_writer_close(w);
}

/* A reader that claims a table slot another reader used numbers its reads
 * past the last one's: a number the slot's `reading` word (or the writer's
 * eviction record) still holds must never pass for one of the new reader's
 * (the model in tests/protocol.pml shows the unprotected read otherwise). */
static void test_table_slot_reuse(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *a, *b;
	struct mmsync_view v;
	int fds[MMSYNC_NR_FDS];
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = 1, .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("reuse"), &o), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	const struct native_slot *slot = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[MMSYNC_FD_SLOTS], 0);
	assert_true(slot != MAP_FAILED);
	assert_int_equal(mmsync_reader_from_fds(&a, fds, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mmsync_read_begin(a, &v), 0);
		assert_int_equal(mmsync_read_end(a, &v), 0);
	}
	uint64_t last = atomic_load(&slot->reading) >> 1;
	mmsync_reader_close(a);
	assert_int_equal(mmsync_reader_from_fds(&b, fds, NULL), 0); /* the only slot: a's */
	assert_int_equal(mmsync_read_begin(b, &v), 0);
	assert_true((atomic_load(&slot->arrived) >> 1) > last);
	assert_true((atomic_load(&slot->reading) >> 1) > last);
	assert_int_equal(mmsync_read_end(b, &v), 0);
	mmsync_reader_close(b);
	munmap((void *)slot, 4096);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* The writer does not wait for a reader whose arrival changed since the
 * writer's look right after its last store of li (and, for fenceless
 * readers, the membarrier that follows it): that arrival loaded li after
 * the store and reads the copy just published. It still waits for (and,
 * past the grace period, evicts) an arrival it saw then. The slot is
 * driven by hand here, as a reader preempted between its arrival and its
 * store of `reading` would leave it. */
static void test_published_arrivals(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_write_info info;
	int fds[MMSYNC_NR_FDS];
	const uint64_t grace = 50000000; /* 50 ms */
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = 1, .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("noted"), &o), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0); /* claims the only slot */
	struct native_slot *slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					fds[MMSYNC_FD_SLOTS], 0);
	assert_true(slot != MAP_FAILED);
	uint64_t n = (atomic_load(&slot->reading) >> 1) + 1000;

	/* Arrived after the publish (a new value), no reading stored: not waited for. */
	assert_int_equal(mmsync_write(w, "two", 3, grace, NULL), 0);
	atomic_store(&slot->arrived, ++n << 1);
	/* (No wait: the time taken, less what this thread waited for a CPU,
	 * is well under the grace period.) */
	struct span t0 = span_start();
	assert_int_equal(mmsync_write(w, "three", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 0);
	assert_true(span_ns(t0) < grace / 2);

	/* The writer saw that arrival after its store of li for "three": at
	 * the next write it waits for it, and evicts it. */
	uint64_t since = now_ns();
	assert_int_equal(mmsync_write(w, "four", 4, grace, &info), 0);
	assert_int_equal(info.evicted, 1);
	assert_true(now_ns() - since >= grace);
	atomic_store(&slot->arrived, 0);

	/* A fenceless reader: the same, the membarrier after the store of li
	 * standing in for its fence (one per publish). */
	struct mmsync_stat st = { .sz = sizeof(st) };
	atomic_store(&slot->mode, SLOT_MODE_FENCELESS);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	uint64_t barriers = st.membarriers;
	assert_int_equal(mmsync_write(w, "six", 3, grace, NULL), 0);
	atomic_store(&slot->arrived, ++n << 1);
	t0 = span_start();
	assert_int_equal(mmsync_write(w, "seven", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 0);
	assert_true(span_ns(t0) < grace / 2);
	assert_int_equal(mmsync_write(w, "eight", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 1);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers - barriers, 3);
	atomic_store(&slot->arrived, 0);

	munmap(slot, 4096);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* The inline read path (mmsync_read.h) and the library's
 * (mmsync_read_begin_call) give the same views and the same errors, and
 * either may end what the other began. The inline path hands over what it
 * must not do itself: a payload past what is prefaulted, a new generation,
 * checksums to verify. */
static void view_is(const struct mmsync_view *v, const char *bytes, size_t len, bool switched)
{
	assert_int_equal(v->len, len);
	assert_memory_equal(v->data, bytes, len);
	assert_int_equal(v->len, mmsync_version_size(v->version));
	assert_int_equal(v->switched, switched);
}

static void test_read_paths(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v, v2;
	int fds[MMSYNC_NR_FDS];
	static char big[256 << 10];
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = sizeof(big), .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("paths"), &o), 0);
	assert_int_equal(mmsync_write(w, "first", 5, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	const struct mmsync_read_fast *f = (const struct mmsync_read_fast *)r;
	assert_int_equal(f->mode & (MMSYNC_FAST_NATIVE | MMSYNC_FAST_CALL), MMSYNC_FAST_NATIVE);

	/* A new handle's count is even with its low 32 bits 0, as an ended or
	 * zeroed view's mark is: that view is still not an open one. */
	struct mmsync_view zero = { 0 };
	assert_int_equal((uint32_t)f->nreads, 0);
	assert_int_equal(mmsync_read_end(r, &zero), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &zero), -EINVAL);
	assert_int_equal(f->nreads & 1, 0);

	/* Same view either way; each ends the other's. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, "first", 5, true);
	assert_int_equal(mmsync_read_end_call(r, &v), 0);
	assert_int_equal(mmsync_read_begin_call(r, &v2), 0);
	view_is(&v2, "first", 5, false);
	assert_int_equal(v2.seq, v.seq);
	assert_int_equal(v2.version, v.version);
	assert_ptr_equal(v2.data, v.data);
	assert_int_equal(mmsync_read_end(r, &v2), 0);

	/* One view at a time, whichever path asks; ends of views not held fail. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_read_begin(r, &v2), -EBUSY);
	assert_int_equal(mmsync_read_begin_call(r, &v2), -EBUSY);
	uint32_t mark = v.open_;
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &v), -EINVAL);
	v.open_ = mark; /* a copy of a closed view */
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_begin(r, &v2), 0);
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL); /* not the open one */
	assert_int_equal(mmsync_read_end(r, &v2), 0);
	assert_int_equal(mmsync_read_begin(NULL, &v), -EINVAL);
	assert_int_equal(mmsync_read_begin(r, NULL), -EINVAL);
	assert_int_equal(mmsync_read_end(NULL, &v), -EINVAL);

	/* A payload past what this reader prefaulted: handed over, prefaulted,
	 * read; the next read of it stays inline (nothing left to prefault). */
	uint64_t ready_before = f->ready[0] > f->ready[1] ? f->ready[0] : f->ready[1];
	memset(big, 'b', sizeof(big));
	assert_int_equal(mmsync_write(w, big, sizeof(big), 0, NULL), 0);
	assert_true(ready_before < sizeof(big));
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, big, sizeof(big), true);
	assert_true(f->ready[v.copy_] >= sizeof(big));
	assert_int_equal(mmsync_read_end(r, &v), 0);

	/* Nothing published into the new copies yet: -ENODATA from both. */
	MMSYNC_OPTS(mmsync_native_opts, o2, .capacity = sizeof(big), .flags = MMSYNC_BPF_OFF);
	struct mmsync_writer *w2;
	int fds2[MMSYNC_NR_FDS];
	struct mmsync_reader *r2;
	assert_int_equal(mmsync_writer_create(&w2, uniq("paths-empty"), &o2), 0);
	assert_int_equal(mmsync_writer_export_fds(w2, fds2), 0);
	assert_int_equal(mmsync_reader_from_fds(&r2, fds2, NULL), 0);
	assert_int_equal(mmsync_read_begin(r2, &v), -ENODATA);
	assert_int_equal(mmsync_read_begin_call(r2, &v), -ENODATA);
	assert_int_equal(mmsync_read_end(r2, &v), -EINVAL);
	mmsync_reader_close(r2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds2[i]);
	mmsync_writer_close(w2);

	/* Checksums to verify: every read takes the call, and passes. */
	mmsync_reader_close(r);
	MMSYNC_OPTS(mmsync_reader_opts, verify, .flags = MMSYNC_VERIFY_CHECKSUM);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &verify), -EOPNOTSUPP); /* nothing hashed */
	MMSYNC_OPTS(mmsync_native_opts, o3, .capacity = 4096, .flags = MMSYNC_BPF_OFF | MMSYNC_CHECKSUM);
	assert_int_equal(mmsync_writer_create(&w2, uniq("paths-hash"), &o3), 0);
	assert_int_equal(mmsync_write(w2, "hashed", 6, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w2, fds2), 0);
	assert_int_equal(mmsync_reader_from_fds(&r2, fds2, &verify), 0);
	f = (const struct mmsync_read_fast *)r2;
	assert_true(f->mode & MMSYNC_FAST_CALL);
	assert_int_equal(mmsync_read_begin(r2, &v), 0);
	view_is(&v, "hashed", 6, true);
	assert_int_equal(mmsync_read_end(r2, &v), 0);
	mmsync_reader_close(r2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds2[i]);
	mmsync_writer_close(w2);

	/* A fenced reader goes inline too, without the fenceless bit. */
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0);
	f = (const struct mmsync_read_fast *)r;
	assert_int_equal(f->mode, MMSYNC_FAST_NATIVE);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, big, sizeof(big), true);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* Out of descriptors at any step of creating a writer or a reader: a
 * clear error, nothing left open, nothing half made. */
static void test_out_of_descriptors(void **unused)
{
	(void)unused;
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		int base = count_fds(), failures = 0, fds[MMSYNC_NR_FDS];
		for (int extra = 0; extra < 20; extra++) {
			struct rlimit rl = { (rlim_t)(base + extra), 1024 };
			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(10);
			MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_OFF);
			int err = mmsync_writer_create(&w, uniq("nofd"), &o);
			if (err && err != -EMFILE)
				_exit(3);
			if (!err) {
				if (mmsync_write(w, "x", 1, 0, NULL))
					_exit(4);
				err = mmsync_writer_export_fds(w, fds);
				if (!err) {
					err = mmsync_reader_from_fds(&r, fds, NULL);
					if (err && err != -EMFILE)
						_exit(5);
					if (!err)
						mmsync_reader_close(r);
					for (int i = 0; i < MMSYNC_NR_FDS; i++)
						close(fds[i]);
				} else if (err != -EMFILE) {
					_exit(6);
				}
				mmsync_writer_close(w);
			}
			failures += err != 0;
			struct rlimit all = { 1024, 1024 };
			setrlimit(RLIMIT_NOFILE, &all);
			if (count_fds() != base)
				_exit(7); /* a descriptor left behind */
		}
		_exit(failures > 0 ? 0 : 8);
	}
	assert_int_equal(wait_child(pid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_no_torn_reads),
		test_case(test_killed_readers),
		test_case(test_stopped_reader_evicted),
		test_case(test_generations),
		test_case(test_generations_connected),
		test_case(test_sandboxed_reader),
		test_case(test_hostile_reader),
		test_case(test_hugetlb),
		test_case(test_hugetlbfs_dir),
		test_case(test_systemd_socket),
		test_case(test_fenceless_accounting),
		test_case(test_out_of_descriptors),
		test_case(test_table_slot_reuse),
		test_case(test_read_paths),
		test_case(test_published_arrivals),
	};
	if (getenv("MMSYNC_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MMSYNC_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
