/* SPDX-License-Identifier: MIT */
/* Native readers across real processes against a writer publishing flat out:
 * no torn read, readers SIGKILLed at random points, a reader stopped inside a
 * view past the grace period, a hostile reader. MMSYNC_TEST_SECONDS sets the
 * length of the timed runs (default 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "native_test.h"

#define MAX_PAYLOAD (1u << 20)

struct shared {
	_Atomic int stop;
	_Atomic uint64_t connected;
	_Atomic uint64_t writes, evicted, last_seq;
	_Atomic uint64_t max_write_ns;	/* less the time the writer waited for a CPU */
	struct reader_result reader[8];
};

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

/* A reader that connects, says so on @word and stays until killed. */
static pid_t idle_reader(const char *sock, int word[2])
{
	assert_int_equal(pipe(word), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		close(word[0]);
		if (mmsync_reader_connect(&r, sock, NULL) || write(word[1], "c", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(word[1]);
	return pid;
}

/* live_slots when one dispatch both serves and adopts a new reader and
 * takes back a dead one: the count of adopted readers is unchanged, but the
 * new one was counted in the header's word at its handshake and must not
 * stay counted twice (the word stayed 3 for good, with 2 readers live, in a
 * run of test_killed_readers). The test makes both events wait for one
 * dispatch: B's connection queued, then A dead. */
static void test_live_slots_adopted_and_dead_together(void **unused)
{
	(void)unused;
	char sock[64];
	int wa[2], wb[2];
	struct mmsync_stat st = { .sz = sizeof(st) };

	sock_name(sock, sizeof(sock), "live");
	struct mmsync_writer *w = serve("live", sock, 1 << 16, 0);
	assert_int_equal(mmsync_write(w, "x", 1, 0, NULL), 0);
	pid_t a = idle_reader(sock, wa);
	dispatch_until_word(w, wa[0], "reader A");
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.live_slots, 1);

	int wfd = mmsync_writer_fd(w);
	assert_true(wfd >= 0);
	assert_false(fd_ready(wfd, 0)); /* nothing waits for a dispatch */
	pid_t b = idle_reader(sock, wb);
	assert_true(fd_ready(wfd, TEST_DEADLINE_S * 1000)); /* B's connection, queued */
	kill(a, SIGKILL);
	assert_int_equal(wait_child(a), 128 + SIGKILL); /* and A's hang-up */
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	read_byte(wb[0], "reader B");
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.reclaimed, 1);
	assert_int_equal(st.live_slots, 1);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	assert_int_equal(mmsync_write(w, "z", 1, 0, NULL), 0);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.live_slots, 1);
	kill(b, SIGKILL);
	assert_int_equal(wait_child(b), 128 + SIGKILL);
	close(wa[0]);
	close(wb[0]);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_no_torn_reads),
		test_case(test_killed_readers),
		test_case(test_stopped_reader_evicted),
		test_case(test_hostile_reader),
		test_case(test_live_slots_adopted_and_dead_together),
	};
	return test_run(tests);
}
