/* SPDX-License-Identifier: MIT */
/*
 * Waiting for a new version without polling: mmsync_wait() and the
 * descriptor of mmsync_reader_fd(), on both layouts, between processes.
 *
 * A step whose outcome depends on timing waits for the state it needs
 * first: a waiter is known to sleep when /proc says it is in futex(2) or
 * poll(2). A lost wake-up shows as a wait that runs into its timeout (a few
 * seconds, never the test's deadline), a spin as CPU time spent asleep.
 * mmsync_wait() on the native layout also looks for the writer every
 * 200 ms, which would hide a lost wake-up: a native waiter must return
 * within WOKEN_NS of the publish (a wake-up takes microseconds, the probe
 * 200 ms), less the time it waited for a CPU. On compat, the 10 ms poll
 * would hide it: a raw futex waiter, which nothing but a FUTEX_WAKE ends,
 * shows whether the writer wakes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/epoll.h>
#include <sys/resource.h>

#include "config.h"
#include "service_test.h"
#include "reader.h"

#if MMSYNC_HAVE_IO_URING
#include <liburing.h>
#endif

#define LEN 100			/* payload bytes: a torn read shows */
#define LOST_NS (5000000000ull)	/* a wait this long has lost its wake-up */
#define ROUNDS 10000
#define WOKEN_NS 150000000ull	/* a native wake-up, not the 200 ms probe */
#define SLOW_ROUNDS_MAX 5	/* lockstep rounds past WOKEN_NS a loaded machine may cause */

static const uint64_t forever = UINT64_MAX;

/* ---- helpers ---- */

/* Until task @pid sleeps in one of @nr system calls (its main thread). */
static bool sleeps_in(pid_t pid, const long *nr, int n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	do {
		long s = current_syscall(path);
		for (int i = 0; i < n; i++)
			if (s == nr[i])
				return true;
		sleep_ns(1000000);
	} while (now_ns() < until);
	return false;
}

static bool sleeps_in_futex(pid_t pid)
{
	static const long nr[] = { SYS_futex };
	return sleeps_in(pid, nr, 1);
}

static bool sleeps_in_poll(pid_t pid)
{
	static const long nr[] = {
#ifdef SYS_poll
		SYS_poll,
#endif
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
		SYS_ppoll, SYS_epoll_pwait, SYS_io_uring_enter,
	};
	return sleeps_in(pid, nr, sizeof(nr) / sizeof(nr[0]));
}

static struct mmsync_reader *connect_to(const char *sock)
{
	struct mmsync_reader *r;
	int err = mmsync_reader_connect(&r, sock, NULL);
	if (err)
		fail_msg("connect: %s", mmsync_strerror(err));
	return r;
}

/* Reads once; whole, or -EILSEQ. *seq gets the version's seq. */
static int read_seq(struct mmsync_reader *r, uint64_t *seq)
{
	struct mmsync_view v;
	uint64_t got;
	int err = mmsync_read_begin(r, &v);
	if (err)
		return err;
	bool whole = v.len == LEN && payload_check(v.data, v.len, &got) && got == v.seq;
	*seq = v.seq;
	err = mmsync_read_end(r, &v);
	return err ? err : whole ? 0 : -EILSEQ;
}

static uint64_t figures(struct mmsync_reader *r, uint64_t *wake_msgs)
{
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	if (wake_msgs)
		*wake_msgs = st.wake_msgs;
	return st.futex_wakes;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* The time of a publish, for waiters in other processes. */
struct pub_time {
	_Atomic uint64_t ns;
};

static int publish_timed(struct mmsync_writer *w, uint64_t seq, struct pub_time *pt)
{
	atomic_store(&pt->ns, now_ns());
	return publish(w, LEN, seq, GRACE_NS, NULL);
}

/* mmsync_wait() for a publish timed in @pt: 0 when woken by it within
 * WOKEN_NS (less the time this process waited for a CPU), -ETIME when
 * only a later look found it. */
static int wait_woken(struct mmsync_reader *r, struct pub_time *pt)
{
	uint64_t d0 = run_delay_ns();
	int err = mmsync_wait(r, LOST_NS);
	if (err)
		return err;
	uint64_t late = now_ns() - atomic_load(&pt->ns), delay = run_delay_ns() - d0;
	late = late > delay ? late - delay : 0;
	return late < WOKEN_NS ? 0 : -ETIME;
}

/* A writer served by its thread on a fresh socket (@sock, 64 bytes), with
 * version 1 published. */
static struct mmsync_writer *writer_at_one(const char *name, char *sock)
{
	sock_name(sock, 64, name);
	struct mmsync_writer *w = serving(name, sock, 0);
	assert_int_equal(publish(w, LEN, 1, GRACE_NS, NULL), 0);
	return w;
}

/* ---- native ---- */

/* A waiter in its own process, asleep in the futex, is woken by a publish
 * and reads it whole; a version published before the wait returns at once. */
static void test_native_wake_on_publish(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("wake", sock);

	struct pub_time *pt = shared_map(sizeof(*pt));
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r = connect_to(sock);
		uint64_t seq;
		if (read_seq(r, &seq) || seq != 1)
			_exit(1);
		say(l.ack[1], 'r');
		int err = wait_woken(r, pt);
		if (err)
			_exit(err == -ETIME ? 2 : 3);
		if (read_seq(r, &seq) || seq != 2)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	assert_true(sleeps_in_futex(pid));
	assert_int_equal(publish_timed(w, 2, pt), 0);
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
	munmap(pt, sizeof(*pt));

	/* In this process: a version already there returns at once. */
	struct mmsync_reader *r = connect_to(sock);
	uint64_t seq;
	assert_int_equal(read_seq(r, &seq), 0);
	assert_int_equal(publish(w, LEN, 3, GRACE_NS, NULL), 0);
	assert_int_equal(mmsync_wait(r, 0), 0);
	assert_int_equal(mmsync_wait(r, forever), 0);
	assert_int_equal(read_seq(r, &seq), 0);
	assert_int_equal(seq, 3);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

/* A handle that never read: anything published is new; nothing published
 * is not. Inside a view: -EBUSY. */
static void test_native_first_wait_and_busy(void **state)
{
	(void)state;
	char sock[64];
	sock_name(sock, sizeof(sock), "first");
	struct mmsync_writer *w = serving("first", sock, 0);
	struct mmsync_reader *r = connect_to(sock);
	assert_int_equal(mmsync_wait(r, 0), -ETIMEDOUT);
	assert_int_equal(publish(w, LEN, 1, GRACE_NS, NULL), 0);
	assert_int_equal(mmsync_wait(r, 0), 0);
	struct mmsync_view v;
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_wait(r, 0), -EBUSY);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_wait(r, 0), -ETIMEDOUT);
	assert_int_equal(mmsync_wait(NULL, 0), -EINVAL);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

/* A timed wait with nothing published lasts its time, asleep: the process
 * spends a small part of it on a CPU (no spin), and no wake is issued. */
static void test_native_timeout_sleeps(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("timeout", sock);
	struct mmsync_reader *r = connect_to(sock);
	uint64_t seq;
	assert_int_equal(read_seq(r, &seq), 0);

	uint64_t t0 = now_ns(), c0 = cpu_ns();
	assert_int_equal(mmsync_wait(r, 300000000ull), -ETIMEDOUT);
	uint64_t spent = now_ns() - t0, cpu = cpu_ns() - c0;
	assert_true(spent >= 300000000ull);
	/* the service thread shares this process: a bound far above what it
	 * and the waiter use, far below a spin's 300 ms */
	assert_true(cpu < 60000000ull);
	assert_int_equal(figures(r, NULL), 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

/* Publish and wait in lockstep between two processes: the writer publishes
 * the moment the reader has read the previous version, racing its way into
 * the wait. No round may lose its wake-up (a lost one runs into LOST_NS),
 * every read is whole and newer than the last. Then the same through the
 * descriptor, in poll(2). */
struct lockstep {
	_Atomic uint64_t seen;	/* the reader's last seq */
	struct pub_time pub;
};

static void lockstep_reader(const char *sock, struct lockstep *ls, bool fd)
{
	struct mmsync_reader *r = connect_to(sock);
	int pfd = fd ? mmsync_reader_fd(r) : -1;
	uint64_t last = 0, seq;
	unsigned slow = 0;
	if (fd && pfd < 0)
		_exit(5);
	while (last < ROUNDS) {
		int err;
		if (fd) {
			uint64_t t0 = now_ns();
			for (;;) {
				struct pollfd p = { .fd = pfd, .events = POLLIN };
				int n = poll(&p, 1, (int)(LOST_NS / 1000000));
				if (n == 1)
					break;
				if (n == 0 || now_ns() - t0 >= LOST_NS)
					_exit(2); /* lost */
			}
			err = 0;
		} else {
			/* a publish may come before the wait: only one after it
			 * is timed */
			err = wait_woken(r, &ls->pub);
			if (err == -ETIME && ++slow <= SLOW_ROUNDS_MAX)
				err = 0;
		}
		if (err)
			_exit(err == -ETIMEDOUT ? 2 : err == -ETIME ? 7 : 3);
		if ((err = read_seq(r, &seq)))
			_exit(4);
		if (seq < last)
			_exit(6);
		last = seq;
		atomic_store(&ls->seen, last);
	}
	mmsync_reader_close(r);
	_exit(0);
}

static void lockstep(const char *name, bool fd)
{
	char sock[64];
	sock_name(sock, sizeof(sock), name);
	struct mmsync_writer *w = serving(name, sock, 0);
	struct lockstep *ls = shared_map(sizeof(*ls));
	pid_t pid = test_fork();
	if (pid == 0)
		lockstep_reader(sock, ls, fd);
	for (uint64_t n = 1; n <= ROUNDS; n++) {
		assert_int_equal(publish_timed(w, n, &ls->pub), 0);
		uint64_t until = now_ns() + LOST_NS + STEP_MS * 1000000ull;
		while (atomic_load(&ls->seen) < n) {
			int status;
			if (waitpid(pid, &status, WNOHANG) == pid)
				fail_msg("round %llu: the reader failed (exit %d: 2 lost, 7 woken late "
					 "too often, else an error)", (unsigned long long)n,
					 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			if (now_ns() > until)
				fail_msg("round %llu: the reader is stuck", (unsigned long long)n);
			sched_yield();
		}
	}
	assert_int_equal(wait_child(pid), 0);
	munmap(ls, sizeof(*ls));
	mmsync_writer_close(w);
}

static void test_native_lockstep_wait(void **state)
{
	(void)state;
	lockstep("lockw", false);
}

static void test_native_lockstep_fd(void **state)
{
	(void)state;
	lockstep("lockf", true);
}

/* After a wake-up and the read, the next wait sleeps again: a wait and the
 * descriptor, neither spins nor returns early. */
static void test_native_sleeps_after_wake(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("again", sock);
	struct mmsync_reader *r = connect_to(sock);
	int fd = mmsync_reader_fd(r);
	assert_true(fd > 2);
	assert_int_equal(mmsync_reader_fd(r), fd);
	assert_true(readable(fd, 0)); /* never read: version 1 is new */
	uint64_t seq;
	assert_int_equal(read_seq(r, &seq), 0);
	assert_false(readable(fd, 0)); /* read: re-armed */
	assert_false(readable(fd, 0));

	for (uint64_t n = 2; n < 5; n++) {
		assert_int_equal(publish(w, LEN, n, GRACE_NS, NULL), 0);
		assert_true(readable(fd, STEP_MS));
		assert_true(readable(fd, 0)); /* level: until the read */
		assert_int_equal(mmsync_wait(r, 0), 0);
		assert_int_equal(read_seq(r, &seq), 0);
		assert_int_equal(seq, n);
		assert_false(readable(fd, 0));
		uint64_t c0 = cpu_ns();
		assert_int_equal(mmsync_wait(r, 100000000ull), -ETIMEDOUT);
		assert_false(readable(fd, 100));
		assert_true(cpu_ns() - c0 < 40000000ull);
	}
	uint64_t msgs;
	figures(r, &msgs);
	assert_int_equal(msgs, 3); /* one WAKE a publish, the reader armed for each */
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

/* 50 processes asleep in mmsync_wait(): one publish wakes them all, with
 * one futex wake. */
#define CROWD 50

static void test_native_fifty_waiters(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("crowd", sock);
	struct mmsync_reader *me = connect_to(sock);
	struct pub_time *pt = shared_map(sizeof(*pt));
	pid_t pids[CROWD];
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	for (int i = 0; i < CROWD; i++) {
		pids[i] = test_fork();
		if (pids[i] == 0) {
			close(ready[0]);
			mmsync_reader_close(me);
			struct mmsync_reader *r = connect_to(sock);
			uint64_t seq;
			if (read_seq(r, &seq) || seq != 1)
				_exit(1);
			say(ready[1], 'r');
			int err = wait_woken(r, pt);
			if (err)
				_exit(err == -ETIME ? 2 : 3);
			_exit(read_seq(r, &seq) || seq != 2 ? 4 : 0);
		}
	}
	close(ready[1]);
	for (int i = 0; i < CROWD; i++)
		assert_int_equal(hear(ready[0]), 'r');
	for (int i = 0; i < CROWD; i++)
		assert_true(sleeps_in_futex(pids[i]));
	uint64_t wakes = figures(me, NULL);
	assert_int_equal(publish_timed(w, 2, pt), 0);
	for (int i = 0; i < CROWD; i++)
		assert_int_equal(wait_child(pids[i]), 0);
	assert_int_equal(figures(me, NULL), wakes + 1);
	close(ready[0]);
	munmap(pt, sizeof(*pt));
	mmsync_reader_close(me);
	mmsync_writer_close(w);
}

/* A waiter SIGKILLed asleep: its slot is taken back, and the publishes
 * after it wake no one. */
static void test_native_waiter_killed(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("killed", sock);
	struct mmsync_reader *me = table_reader(w);
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r = connect_to(sock);
		uint64_t seq;
		if (read_seq(r, &seq) || mmsync_reader_fd(r) < 0)
			_exit(1);
		say(l.ack[1], 'r');
		mmsync_wait(r, forever);
		_exit(2);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	assert_true(sleeps_in_futex(pid));
	struct mmsync_stat st;
	assert_true(figures_reach(me, 2, 0, &st));
	kill(pid, SIGKILL);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	link_close(&l);
	assert_true(figures_reach(me, 1, 1, &st)); /* the service thread took it back */
	uint64_t msgs, wakes = figures(me, &msgs);
	for (uint64_t n = 2; n < 12; n++)
		assert_int_equal(publish(w, LEN, n, GRACE_NS, NULL), 0);
	uint64_t msgs2;
	assert_int_equal(figures(me, &msgs2), wakes);
	assert_int_equal(msgs2, msgs);
	mmsync_reader_close(me);
	mmsync_writer_close(w);
}

/* The writer SIGKILLed: a waiter sees -EPIPE (the probe between sleeps),
 * and the descriptor hangs up. The writer closed: at once. */
static void test_native_writer_gone(void **state)
{
	(void)state;
	char sock[64];
	sock_name(sock, sizeof(sock), "gone");
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_writer *w = serving("gone", sock, 0);
		if (publish(w, LEN, 1, GRACE_NS, NULL))
			_exit(1);
		say(l.ack[1], 'w');
		for (;;)
			pause();
	}
	assert_int_equal(hear(l.ack[0]), 'w');
	struct mmsync_reader *r = connect_to(sock), *r2 = connect_to(sock);
	uint64_t seq;
	assert_int_equal(read_seq(r, &seq), 0);
	assert_int_equal(read_seq(r2, &seq), 0);
	int fd = mmsync_reader_fd(r2);
	assert_true(fd > 2);
	assert_false(readable(fd, 0));

	/* This process waits; a child kills the writer once it sleeps. */
	pid_t killer = test_fork();
	if (killer == 0) {
		if (!sleeps_in_futex(getppid()))
			_exit(1);
		kill(pid, SIGKILL);
		_exit(0);
	}
	uint64_t t0 = now_ns();
	assert_int_equal(mmsync_wait(r, LOST_NS), -EPIPE);
	assert_true(now_ns() - t0 < LOST_NS);
	assert_int_equal(wait_child(killer), 0);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	link_close(&l);
	assert_true(readable(fd, STEP_MS)); /* the hang-up */
	assert_int_equal(mmsync_wait(r2, 0), -EPIPE);
	assert_int_equal(read_seq(r2, &seq), 0); /* the last version stays readable */
	mmsync_reader_close(r);
	mmsync_reader_close(r2);

	/* Closed: the sleeper is woken by the close and finds it gone. */
	sock_name(sock, sizeof(sock), "closed");
	struct mmsync_writer *w = serving("closed", sock, 0);
	assert_int_equal(publish(w, LEN, 1, GRACE_NS, NULL), 0);
	pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *c = connect_to(sock);
		if (read_seq(c, &seq))
			_exit(1);
		say(l.ack[1], 'r');
		uint64_t s0 = now_ns();
		int err = mmsync_wait(c, LOST_NS);
		/* at once: well before the probe's 200 ms */
		_exit(err != -EPIPE ? 2 : now_ns() - s0 > 150000000ull ? 3 : 0);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	assert_true(sleeps_in_futex(pid));
	mmsync_writer_close(w);
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
}

/* Signals delivered to a waiter (a handler without SA_RESTART) end no
 * wait: it sleeps on with the time left, and returns the publish. */
static volatile sig_atomic_t signals_seen;

static void on_usr1(int sig)
{
	(void)sig;
	signals_seen++;
}

static void test_native_signals(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("signals", sock);
	struct pub_time *pt = shared_map(sizeof(*pt));
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		struct mmsync_reader *r = connect_to(sock);
		uint64_t seq;
		if (read_seq(r, &seq))
			_exit(1);
		/* a timed wait lasts its time, signals or not */
		uint64_t t0 = now_ns();
		say(l.ack[1], 't');
		if (mmsync_wait(r, 400000000ull) != -ETIMEDOUT || now_ns() - t0 < 400000000ull)
			_exit(2);
		say(l.ack[1], 'r');
		int err = wait_woken(r, pt);
		if (err)
			_exit(err == -EINTR ? 3 : 4);
		if (read_seq(r, &seq) || seq != 2 || signals_seen < 20)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0]), 't');
	for (int i = 0; i < 10; i++) {
		assert_true(sleeps_in_futex(pid));
		kill(pid, SIGUSR1);
		sleep_ns(5000000);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	for (int i = 0; i < 20; i++) {
		assert_true(sleeps_in_futex(pid));
		kill(pid, SIGUSR1);
		sleep_ns(2000000);
	}
	assert_true(sleeps_in_futex(pid));
	assert_int_equal(publish_timed(w, 2, pt), 0);
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
	munmap(pt, sizeof(*pt));
	mmsync_writer_close(w);
}

/* A hostile reader whose slot always claims to wait, and which never reads
 * its socket: each publish costs the writer at most one futex wake and one
 * message, writes go on, an honest waiter is still woken. */
static void test_native_hostile_waiter(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("hostile", sock);
	struct mmsync_reader *me = table_reader(w);
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r = connect_to(sock);
		_Atomic uint64_t *word = &r->n.slot->wait;
		say(l.ack[1], 'r');
		for (;;) /* claims to wait on seq 0, both ways, for ever */
			atomic_store(word, WAIT_FUTEX | WAIT_FD);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	uint64_t msgs0, wakes0 = figures(me, &msgs0);
	const unsigned n = 2000;
	for (uint64_t k = 2; k < 2 + n; k++)
		assert_int_equal(publish(w, LEN, k, GRACE_NS, NULL), 0);
	uint64_t msgs, wakes = figures(me, &msgs);
	assert_true(wakes - wakes0 <= n);
	assert_true(msgs - msgs0 <= n);
	assert_true(msgs - msgs0 > 0); /* it was seen */

	/* An honest waiter beside it. */
	struct pub_time *pt = shared_map(sizeof(*pt));
	struct link l2;
	pid_t honest = spawn(&l2);
	if (honest == 0) {
		struct mmsync_reader *r = connect_to(sock);
		uint64_t seq;
		if (read_seq(r, &seq))
			_exit(1);
		say(l2.ack[1], 'r');
		_exit(wait_woken(r, pt) || read_seq(r, &seq) || seq != 2 + n ? 2 : 0);
	}
	assert_int_equal(hear(l2.ack[0]), 'r');
	assert_true(sleeps_in_futex(honest));
	assert_int_equal(publish_timed(w, 2 + n, pt), 0);
	assert_int_equal(wait_child(honest), 0);
	link_close(&l2);
	kill(pid, SIGKILL);
	wait_child(pid);
	link_close(&l);
	munmap(pt, sizeof(*pt));
	mmsync_reader_close(me);
	mmsync_writer_close(w);
}

/* The descriptor in an epoll set of the caller's, in another process. */
static void test_native_fd_epoll(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("epoll", sock);
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r = connect_to(sock);
		int fd = mmsync_reader_fd(r), ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN }, out;
		uint64_t seq;
		if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) || read_seq(r, &seq))
			_exit(1);
		if (epoll_wait(ep, &out, 1, 0) != 0)
			_exit(2); /* read: not readable */
		say(l.ack[1], 'r');
		for (uint64_t n = 2; n <= 4; n++) {
			if (epoll_wait(ep, &out, 1, (int)(LOST_NS / 1000000)) != 1)
				_exit(3);
			if (read_seq(r, &seq) || seq != n)
				_exit(4);
			if (epoll_wait(ep, &out, 1, 0) != 0)
				_exit(5);
			say(l.ack[1], 'n');
		}
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	for (uint64_t n = 2; n <= 4; n++) {
		assert_true(sleeps_in_poll(pid));
		assert_int_equal(publish(w, LEN, n, GRACE_NS, NULL), 0);
		assert_int_equal(hear(l.ack[0]), 'n');
	}
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
	mmsync_writer_close(w);
}

#if MMSYNC_HAVE_IO_URING
/* The descriptor in an io_uring POLL_ADD. */
static void test_native_fd_io_uring(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("uring", sock);
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct io_uring ring;
		struct mmsync_reader *r = connect_to(sock);
		int fd = mmsync_reader_fd(r);
		uint64_t seq;
		if (fd < 0 || read_seq(r, &seq) || io_uring_queue_init(4, &ring, 0))
			_exit(1);
		say(l.ack[1], 'r');
		for (uint64_t n = 2; n <= 3; n++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			struct io_uring_cqe *cqe;
			io_uring_prep_poll_add(sqe, fd, POLLIN);
			struct __kernel_timespec ts = { (long long)(LOST_NS / 1000000000u), 0 };
			if (io_uring_submit(&ring) != 1 || io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
				_exit(2);
			if (!(cqe->res & POLLIN))
				_exit(3);
			io_uring_cqe_seen(&ring, cqe);
			if (read_seq(r, &seq) || seq != n)
				_exit(4);
			say(l.ack[1], 'n');
		}
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	for (uint64_t n = 2; n <= 3; n++) {
		assert_true(sleeps_in_poll(pid));
		assert_int_equal(publish(w, LEN, n, GRACE_NS, NULL), 0);
		assert_int_equal(hear(l.ack[0]), 'n');
	}
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
	mmsync_writer_close(w);
}
#endif

/* A reader from exported descriptors: the futex wait, and a timer for a
 * descriptor (it has no connection). The publish comes from a thread of
 * this process once the main thread sleeps. */
struct late_publish {
	struct mmsync_writer *w;
	uint64_t seq;
	pid_t sleeper;
	struct pub_time pt;
};

static void *publish_when_asleep(void *arg)
{
	struct late_publish *lp = arg;
	if (!sleeps_in_futex(lp->sleeper))
		return (void *)1;
	return publish_timed(lp->w, lp->seq, &lp->pt) ? (void *)2 : NULL;
}

static void test_native_table_reader(void **state)
{
	(void)state;
	char sock[64];
	struct mmsync_writer *w = writer_at_one("table", sock);
	struct mmsync_reader *r = table_reader(w);
	uint64_t seq;
	assert_int_equal(read_seq(r, &seq), 0);
	int fd = mmsync_reader_fd(r);
	assert_true(fd > 2);
	assert_false(readable(fd, 0));
	assert_int_equal(mmsync_wait(r, 50000000ull), -ETIMEDOUT);

	struct late_publish lp = { w, 2, getpid(), { 0 } };
	pthread_t t;
	void *res;
	assert_int_equal(pthread_create(&t, NULL, publish_when_asleep, &lp), 0);
	assert_int_equal(wait_woken(r, &lp.pt), 0);
	assert_int_equal(pthread_join(t, &res), 0);
	assert_null(res);
	assert_true(readable(fd, STEP_MS)); /* the timer, within 10 ms */
	assert_int_equal(read_seq(r, &seq), 0);
	assert_int_equal(seq, 2);
	assert_false(readable(fd, 0));
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

/* ---- compat ---- */

static struct mmsync_writer *compat_writer(const char *prefix, unsigned flags)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_writer_opts, o, .flags = flags);
	assert_int_equal(mmsync_writer_open(&w, prefix, &o), 0);
	return w;
}

static int compat_read(struct mmsync_reader *r, uint64_t *seq)
{
	struct mmsync_view v;
	uint64_t got = 0;
	int err = mmsync_read_begin(r, &v);
	if (err)
		return err;
	bool whole = v.len == LEN && payload_check(v.data, v.len, &got);
	*seq = got;
	err = mmsync_read_end(r, &v);
	return err ? err : whole ? 0 : -EILSEQ;
}

/* A compat waiter: woken at once by a writer with MMSYNC_WAKE_WAITERS,
 * within the 10 ms poll by one without; a timeout; a version already
 * there; a reader waiting before the files exist. */
static void test_compat_wait(void **state)
{
	(void)state;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "cw");

	/* before any file exists: the first publish is new */
	struct link l;
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r;
		uint64_t seq;
		if (mmsync_reader_open(&r, t.prefix, NULL))
			_exit(1);
		say(l.ack[1], 'r');
		int err = mmsync_wait(r, LOST_NS);
		_exit(err ? 2 : compat_read(r, &seq) || seq != 1 ? 3 : 0);
	}
	assert_int_equal(hear(l.ack[0]), 'r');
	sleep_ns(30000000);
	struct mmsync_writer *w = compat_writer(t.prefix, MMSYNC_WAKE_WAITERS);
	assert_int_equal(publish(w, LEN, 1, 0, NULL), 0);
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);

	struct mmsync_reader *r;
	uint64_t seq;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_wait(r, 0), 0); /* never read: version 1 is new */
	assert_int_equal(compat_read(r, &seq), 0);
	assert_int_equal(mmsync_wait(r, 50000000ull), -ETIMEDOUT);
	struct mmsync_view v;
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_wait(r, 0), -EBUSY);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(publish(w, LEN, 2, 0, NULL), 0);
	assert_int_equal(mmsync_wait(r, forever), 0);
	assert_int_equal(compat_read(r, &seq), 0);
	assert_int_equal(seq, 2);
	mmsync_reader_close(r);

	/* a waking writer and one that does not: both seen */
	for (int wake = 1; wake >= 0; wake--) {
		mmsync_writer_close(w);
		w = compat_writer(t.prefix, wake ? MMSYNC_WAKE_WAITERS : 0);
		pid = spawn(&l);
		if (pid == 0) {
			struct mmsync_reader *c;
			if (mmsync_reader_open(&c, t.prefix, NULL) || compat_read(c, &seq))
				_exit(1);
			say(l.ack[1], 'r');
			int err = mmsync_wait(c, LOST_NS);
			_exit(err ? 2 : compat_read(c, &seq) || seq != 4u - (unsigned)wake ? 3 : 0);
		}
		assert_int_equal(hear(l.ack[0]), 'r');
		assert_true(sleeps_in_futex(pid));
		assert_int_equal(publish(w, LEN, 4u - (unsigned)wake, 0, NULL), 0);
		assert_int_equal(wait_child(pid), 0);
		link_close(&l);
	}
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

/* Whether the compat writer issues a FUTEX_WAKE: a raw futex waiter on the
 * version word, which only a wake ends (or LOST_NS). */
struct raw_waiter {
	const uint32_t *word;
	uint32_t expected;
	int rc;
	_Atomic int tid;
};

static void *raw_wait(void *arg)
{
	struct raw_waiter *rw = arg;
	atomic_store(&rw->tid, (int)syscall(SYS_gettid));
	struct timespec ts = { (time_t)(LOST_NS / 1000000000u), 0 };
	rw->rc = syscall(SYS_futex, rw->word, FUTEX_WAIT, rw->expected, &ts, NULL, 0) ? -errno : 0;
	return NULL;
}

static void test_compat_writer_wakes(void **state)
{
	(void)state;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "cwake");
	for (int wake = 1; wake >= 0; wake--) {
		struct mmsync_writer *w = compat_writer(t.prefix, wake ? MMSYNC_WAKE_WAITERS : 0);
		assert_int_equal(publish(w, LEN, 1, 0, NULL), 0);
		struct mmsync_reader *r;
		assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
		uint64_t seq;
		assert_int_equal(compat_read(r, &seq), 0);
		struct raw_waiter rw = { (const uint32_t *)&r->state->version,
					 (uint32_t)atomic_load(&r->state->version), 1, 0 };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, raw_wait, &rw), 0);
		uint64_t until = now_ns() + STEP_MS * 1000000ull;
		bool asleep = false;
		while (!asleep && now_ns() < until) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", atomic_load(&rw.tid));
			asleep = atomic_load(&rw.tid) && current_syscall(path) == SYS_futex;
			sleep_ns(1000000);
		}
		assert_true(asleep);
		assert_int_equal(publish(w, LEN, 2, 0, NULL), 0);
		if (!wake) /* nothing would end its sleep before LOST_NS: end it */
			syscall(SYS_futex, rw.word, FUTEX_WAKE, 1, NULL, NULL, 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		if (wake)
			assert_int_equal(rw.rc, 0); /* woken by the writer */
		mmsync_reader_close(r);
		mmsync_writer_close(w);
	}
	tmp_prefix_remove(&t);
}

/* Lockstep on compat with a waking writer: no round lost. Version words
 * differ from one publish to the next (the copy index alternates). */
static void test_compat_lockstep(void **state)
{
	(void)state;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "cl");
	struct mmsync_writer *w = compat_writer(t.prefix, MMSYNC_WAKE_WAITERS);
	struct lockstep *ls = shared_map(sizeof(*ls));
	const uint64_t rounds = ROUNDS / 5;
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		uint64_t last = 0, seq;
		if (mmsync_reader_open(&r, t.prefix, NULL))
			_exit(1);
		while (last < rounds) {
			int err = mmsync_wait(r, LOST_NS);
			if (err)
				_exit(2);
			if (compat_read(r, &seq) || seq < last)
				_exit(3);
			last = seq;
			atomic_store(&ls->seen, last);
		}
		_exit(0);
	}
	for (uint64_t n = 1; n <= rounds; n++) {
		assert_int_equal(publish(w, LEN, n, GRACE_NS, NULL), 0);
		uint64_t until = now_ns() + LOST_NS + STEP_MS * 1000000ull;
		while (atomic_load(&ls->seen) < n) {
			if (waitpid(pid, NULL, WNOHANG) == pid || now_ns() > until)
				fail_msg("round %llu: the reader is gone or stuck", (unsigned long long)n);
			sched_yield();
		}
	}
	assert_int_equal(wait_child(pid), 0);
	munmap(ls, sizeof(*ls));
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

/* The compat descriptor: a timer, readable within 10 ms of a publish,
 * not readable at once after a read that found it. */
static void test_compat_fd(void **state)
{
	(void)state;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "cf");
	struct mmsync_writer *w = compat_writer(t.prefix, 0);
	assert_int_equal(publish(w, LEN, 1, 0, NULL), 0);
	struct mmsync_reader *r;
	uint64_t seq;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	int fd = mmsync_reader_fd(r);
	assert_true(fd > 2);
	assert_true(readable(fd, STEP_MS)); /* version 1, never read */
	assert_int_equal(compat_read(r, &seq), 0);
	assert_false(readable(fd, 0));
	assert_int_equal(publish(w, LEN, 2, 0, NULL), 0);
	assert_true(readable(fd, STEP_MS));
	assert_int_equal(compat_read(r, &seq), 0);
	assert_int_equal(seq, 2);
	assert_false(readable(fd, 0));
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_native_wake_on_publish),
		test_case(test_native_first_wait_and_busy),
		test_case(test_native_timeout_sleeps),
		test_case(test_native_lockstep_wait),
		test_case(test_native_lockstep_fd),
		test_case(test_native_sleeps_after_wake),
		test_case(test_native_fifty_waiters),
		test_case(test_native_waiter_killed),
		test_case(test_native_writer_gone),
		test_case(test_native_signals),
		test_case(test_native_hostile_waiter),
		test_case(test_native_fd_epoll),
#if MMSYNC_HAVE_IO_URING
		test_case(test_native_fd_io_uring),
#endif
		test_case(test_native_table_reader),
		test_case(test_compat_wait),
		test_case(test_compat_writer_wakes),
		test_case(test_compat_lockstep),
		test_case(test_compat_fd),
	};
	return test_run(tests);
}
