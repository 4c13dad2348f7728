/* SPDX-License-Identifier: MIT */
/*
 * The native writer's service thread (mmsync_writer_listen() with
 * MMSYNC_LISTEN_SERVE) and fork(), across processes:
 *  - it serves readers, takes back the slots of readers that left and
 *    refreshes the figures, while the program never dispatches;
 *  - a reader connecting while a write waits out its grace period for a
 *    holder is served while the write still waits (the holder is let go
 *    only after); when that write starts a generation, the reader, handed
 *    the old one, is sent the new one;
 *  - a write with no connection pending takes no lock: writes go on while
 *    the handshakes' lock is held (which does hold a connect up);
 *  - a reader connecting while a new generation is committed is not handed
 *    anything in the middle: it gets the new one after;
 *  - generations and small writes while readers churn: every read whole,
 *    no reader revoked;
 *  - a connect to a writer that does not dispatch times out, even with the
 *    socket's queue full, with a message that says what to check;
 *  - listen's flags are bits of their own; any other is refused;
 *  - fork(): a child's copy of a serving writer refuses every call
 *    (-ECHILD), and closing it, or an inherited reader, disturbs nothing of
 *    the parent's; a writer without the thread passes to a child that uses
 *    it, and back to the parent's close once that child is gone; compat
 *    handles; a fork() never lands inside a handshake (the library's fork
 *    handlers), with the service thread or a dispatching thread;
 *  - close stops and joins the thread.
 *
 * Readers run in processes (test_fork()), driven step by step through
 * pipes; a step that does not come within TEST_DEADLINE_S fails the test,
 * whose teardown kills the children. Payloads are harness.h's
 * self-verifying ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "harness.h"
#include "mmsync.h"
/* test_write_takes_no_lock holds the writer's locks; the library's now_ns()
 * takes a clock, harness.h's does not. */
#define now_ns native_now_ns
#include "native_writer.h"
#undef now_ns
#include "writer.h"

#define STEP_MS (TEST_DEADLINE_S * 1000) /* a step that takes longer has failed */
#define GRACE_NS 50000000ull		 /* 50 ms: where a write's grace does not matter */

/* ---- children and the pipes that drive them (harness.h: spawn, say) ---- */

/* The next byte on @fd within @ms. Return: the byte, or -1 (time is up, or
 * end of file: the other side died). */
static int hear_within(int fd, int ms)
{
	char c;
	if (!fd_ready(fd, ms))
		return -1;
	return read(fd, &c, 1) == 1 ? c : -1;
}

static int hear(int fd)
{
	return hear_within(fd, STEP_MS);
}

static void sock_name(char *buf, size_t n, const char *what)
{
	static int k;
	snprintf(buf, n, "@mmsync-svc-%d-%s-%d", (int)getpid(), what, k++);
}

static struct mmsync_writer *writer_new(const char *name, uint64_t capacity, unsigned flags,
					void (*log)(void *, const char *), void *log_ctx)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity, .flags = flags, .log = log,
		    .log_ctx = log_ctx);
	assert_int_equal(mmsync_writer_create(&w, uniq(name), &o), 0);
	return w;
}

static int listen_serving(struct mmsync_writer *w, const char *sock)
{
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	return mmsync_writer_listen(w, sock, &lo);
}

/* The log of the writers serving(), from both of their threads: readers
 * revoked. A reader the test does not make fail is never revoked; one whose
 * slot's lock a forked child inherited would be, when it left. */
static atomic_int revoked;

static void count_revoked(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "writer: %s\n", msg);
	if (strstr(msg, "revoked"))
		atomic_fetch_add(&revoked, 1);
}

/* A writer served by its thread, with a memfd header (no BPF pins). */
static struct mmsync_writer *serving(const char *name, const char *sock, uint64_t capacity)
{
	struct mmsync_writer *w = writer_new(name, capacity, MMSYNC_BPF_OFF, count_revoked, NULL);
	assert_int_equal(listen_serving(w, sock), 0);
	return w;
}

static int publish(struct mmsync_writer *w, size_t len, uint64_t seq, uint64_t grace_ns,
		   struct mmsync_write_info *info)
{
	static uint8_t *buf;
	static size_t cap;
	if (len > cap) {
		free(buf);
		buf = malloc(len);
		cap = buf ? len : 0;
		if (!buf)
			return -ENOMEM;
	}
	payload_fill(buf, len, seq);
	return mmsync_write(w, buf, len, grace_ns, info);
}

/* Reads once: 0 if the version is @seq, @len bytes, whole. */
static int read_is(struct mmsync_reader *r, uint64_t seq, size_t len)
{
	struct mmsync_view v;
	uint64_t got;
	int err = mmsync_read_begin(r, &v);
	if (err)
		return err;
	bool ok = v.len == len && payload_check(v.data, v.len, &got) && got == seq && v.seq == seq;
	err = mmsync_read_end(r, &v);
	return err ? err : ok ? 0 : -EILSEQ;
}

/* Reads until the version is @seq (any older one read must be whole too),
 * for up to STEP_MS. Return: as read_is(). */
static int read_until(struct mmsync_reader *r, uint64_t seq, size_t len)
{
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	for (;;) {
		struct mmsync_view v;
		uint64_t got;
		int err = mmsync_read_begin(r, &v);
		if (err)
			return err;
		bool whole = payload_check(v.data, v.len, &got) && (v.len < 8 || got == v.seq);
		uint64_t at = v.seq;
		if ((err = mmsync_read_end(r, &v)))
			return err;
		if (!whole)
			return -EILSEQ;
		if (at == seq)
			return read_is(r, seq, len);
		if (now_ns() > until)
			return -ETIMEDOUT;
		sleep_ns(1000000);
	}
}

/* A reader in this process from exported descriptors: the writer's figures. */
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

/* Waits, without dispatching, until the figures @r reads show @live slots
 * and @reclaimed slots taken back (the service thread refreshes them).
 * Return: whether they did within STEP_MS; *st holds the last read. */
static bool figures_reach(struct mmsync_reader *r, uint32_t live, uint64_t reclaimed,
			  struct mmsync_stat *st)
{
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	do {
		*st = (struct mmsync_stat){ .sz = sizeof(*st) };
		if (mmsync_reader_stat(r, st))
			return false;
		if (st->live_slots == live && st->reclaimed == reclaimed)
			return true;
		sleep_ns(5000000);
	} while (now_ns() < until);
	return false;
}

/* The reader's connection: its one connected socket. */
static int own_socket(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    getpeername(fd, (struct sockaddr *)&sa, &len) == 0)
			return fd;
	}
	return -1;
}

/* Threads of this process named @comm. */
static int count_threads(const char *comm)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], buf[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (k > 0 && buf[k - 1] == '\n')
			buf[k - 1] = 0;
		n += k > 0 && !strcmp(buf, comm);
	}
	closedir(d);
	return n;
}

/* ---- 1. serving without a dispatch ---- */

/* A reader child: connects, reads @len bytes of seq 1, says 'c'; at 'n'
 * reads until seq 2 and says 'r'; at 'q' leaves. Exit: 0, or the step
 * that failed. */
static __attribute__((noreturn)) void plain_reader(struct link *l, const char *sock, size_t len)
{
	struct mmsync_reader *r;
	MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = STEP_MS);
	if (mmsync_reader_connect(&r, sock, &o))
		_exit(3);
	if (read_is(r, 1, len))
		_exit(4);
	say(l->ack[1], 'c');
	if (hear(l->cmd[0]) != 'n')
		_exit(5);
	if (read_until(r, 2, len))
		_exit(6);
	say(l->ack[1], 'r');
	if (hear(l->cmd[0]) != 'q')
		_exit(7);
	mmsync_reader_close(r);
	_exit(0);
}

static void test_serves_without_dispatch(void **unused)
{
	(void)unused;
	char sock[64];
	struct link l[3];
	pid_t pid[3];
	struct mmsync_stat st;

	sock_name(sock, sizeof(sock), "plain");
	atomic_store(&revoked, 0);
	struct mmsync_writer *w = serving("plain", sock, 4096);
	/* The caller has nothing to dispatch, and is told so. */
	assert_int_equal(mmsync_writer_dispatch(w), -EBUSY);
	assert_int_equal(mmsync_writer_fd(w), -EBUSY);
	assert_int_equal(listen_serving(w, sock), -EBUSY);
	assert_int_equal(publish(w, 1000, 1, GRACE_NS, NULL), 0);
	struct mmsync_reader *t = table_reader(w);

	for (int i = 0; i < 3; i++)
		if ((pid[i] = spawn(&l[i])) == 0)
			plain_reader(&l[i], sock, 1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(hear(l[i].ack[0]), 'c');
	/* Figures refreshed by the thread: three readers and this one. */
	assert_true(figures_reach(t, 4, 0, &st));
	assert_int_equal(publish(w, 1000, 2, GRACE_NS, NULL), 0);
	for (int i = 0; i < 3; i++)
		say(l[i].cmd[1], 'n');
	for (int i = 0; i < 3; i++)
		assert_int_equal(hear(l[i].ack[0]), 'r');
	for (int i = 0; i < 3; i++) {
		say(l[i].cmd[1], 'q');
		assert_int_equal(wait_child(pid[i]), 0);
		link_close(&l[i]);
	}
	/* Their slots come back with no write and no dispatch from here. */
	if (!figures_reach(t, 1, 3, &st))
		fail_msg("live %u reclaimed %lu: the thread did not take back the slots", st.live_slots,
			 (unsigned long)st.reclaimed);
	assert_int_equal(read_is(t, 2, 1000), 0);
	assert_int_equal(atomic_load(&revoked), 0); /* each was seen dead as it left */
	mmsync_reader_close(t);
	mmsync_writer_close(w);
}

/* ---- 2. a connect during a write's grace period ---- */

/* The writer's main thread is sleeping in a wait for its readers (the waits
 * sleep in 20 µs naps once past their spin): its current system call. */
/* The system call a task is blocked in, as /proc/.../syscall (@path) says;
 * -1 when it runs or cannot be read. */
static long current_syscall(const char *path)
{
	char buf[128];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, NULL, 10) : -1;
}

static bool in_nanosleep(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	long nr = current_syscall(path);
	return nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
}

/* Generation of the segment @r reads, or 0. */
static uint64_t generation_of(struct mmsync_reader *r)
{
	struct mmsync_stat st = { .sz = sizeof(st) };
	return mmsync_reader_stat(r, &st) ? 0 : st.generation;
}

/*
 * A writer (in a child) blocked in a write's wait by a holder's view, and a
 * newcomer connecting meanwhile. The grace period is ten minutes: the write
 * ends only when the test lets the holder go, so the newcomer is served
 * "before the grace ends" by construction, whatever the scheduler does, and
 * a connect that waited for the write would time out (STEP_MS) and fail.
 * The blocked write publishes @blocked_len bytes into copies of 4096: 1000
 * stays in generation 1, 8000 starts generation 2, which the newcomer,
 * handed generation 1 while the write waited, must then be sent.
 */
static void connect_during_grace_wait(size_t blocked_len)
{
	const uint64_t grace = 600ull * 1000000000u;
	char sock[64];
	struct link lw, la, lb;

	sock_name(sock, sizeof(sock), "grace");
	/* The writer: publishes at each 'p' (seq 2: 1000 bytes, seq 3:
	 * @blocked_len), saying 'b' before the write and 'o' (no eviction),
	 * 'e' or 'x' after. */
	pid_t writer = spawn(&lw);
	if (writer == 0) {
		struct mmsync_writer *w = serving("grace", sock, 4096);
		struct mmsync_write_info info;
		uint64_t seq = 1;
		if (publish(w, 1000, seq, grace, NULL))
			_exit(3);
		say(lw.ack[1], 'w');
		int c;
		while ((c = hear(lw.cmd[0])) == 'p') {
			say(lw.ack[1], 'b');
			seq++;
			int err = publish(w, seq == 3 ? blocked_len : 1000, seq, grace, &info);
			say(lw.ack[1], err ? 'x' : info.evicted ? 'e' : 'o');
		}
		mmsync_writer_close(w);
		_exit(c == 'q' ? 0 : 4);
	}
	assert_int_equal(hear(lw.ack[0]), 'w');

	/* The holder: a view of seq 1, held until told. */
	pid_t holder = spawn(&la);
	if (holder == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t got;
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		if (!payload_check(v.data, v.len, &got) || got != 1)
			_exit(4);
		say(la.ack[1], 'h');
		if (hear(la.cmd[0]) != 'e')
			_exit(5);
		say(la.ack[1], mmsync_read_end(r, &v) ? 'x' : 'o');
		mmsync_reader_close(r);
		_exit(0);
	}
	assert_int_equal(hear(la.ack[0]), 'h');

	say(lw.cmd[1], 'p'); /* seq 2 fills the other copy: no wait */
	assert_int_equal(hear(lw.ack[0]), 'b');
	assert_int_equal(hear(lw.ack[0]), 'o');
	say(lw.cmd[1], 'p'); /* seq 3 fills the holder's: waits for it */
	assert_int_equal(hear(lw.ack[0]), 'b');
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	while (!in_nanosleep(writer)) {
		if (fd_ready(lw.ack[0], 0))
			fail_msg("the write ended (%c) before it was seen waiting for the holder",
				 hear(lw.ack[0]));
		if (now_ns() > until) {
			if (access("/proc/self/syscall", R_OK))
				test_skip_or_fail("no /proc/PID/syscall to see the writer wait");
			fail_msg("the writer was never seen waiting");
		}
		sleep_ns(200000);
	}

	/* A newcomer, meanwhile: handed seq 2 in generation 1 while the
	 * write waits; then, once the write is through, seq 3 (in generation
	 * 2 for a growing write: the message came on its connection). */
	_Atomic uint64_t *connect_ns = shared_map(sizeof(*connect_ns));
	pid_t newcomer = spawn(&lb);
	if (newcomer == 0) {
		struct mmsync_reader *r;
		MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = STEP_MS);
		uint64_t t0 = now_ns();
		int err = mmsync_reader_connect(&r, sock, &o);
		atomic_store(connect_ns, now_ns() - t0);
		if (err) {
			fprintf(stderr, "newcomer: %s\n", mmsync_strerror(err));
			_exit(3);
		}
		if (read_is(r, 2, 1000) || generation_of(r) != 1)
			_exit(4);
		say(lb.ack[1], 'c');
		if (hear(lb.cmd[0]) != 'r')
			_exit(5);
		if ((err = read_until(r, 3, blocked_len))) {
			fprintf(stderr, "newcomer: %s\n", mmsync_strerror(err));
			_exit(6);
		}
		if (generation_of(r) != (blocked_len > 4096 ? 2 : 1))
			_exit(7);
		mmsync_reader_close(r);
		_exit(0);
	}
	assert_int_equal(hear(lb.ack[0]), 'c');
	/* ... while the write still waits: the holder has not been let go. */
	assert_false(fd_ready(lw.ack[0], 0));
	print_message("the newcomer was served in %.1f ms while the write waited\n",
		      (double)atomic_load(connect_ns) / 1e6);

	/* The holder leaves: the write ends, having evicted no one. */
	say(la.cmd[1], 'e');
	assert_int_equal(hear(la.ack[0]), 'o');
	assert_int_equal(hear(lw.ack[0]), 'o');
	assert_int_equal(wait_child(holder), 0);
	link_close(&la);
	say(lb.cmd[1], 'r');
	assert_int_equal(wait_child(newcomer), 0);
	link_close(&lb);
	say(lw.cmd[1], 'q');
	assert_int_equal(wait_child(writer), 0);
	link_close(&lw);
	munmap(connect_ns, sizeof(*connect_ns));
}

static void test_connect_during_grace_wait(void **unused)
{
	(void)unused;
	connect_during_grace_wait(1000);
}

/* The write the newcomer connects during starts a generation: handed the
 * old one, the newcomer is sent the new one when the write publishes. */
static void test_connect_during_growing_write(void **unused)
{
	(void)unused;
	connect_during_grace_wait(8000);
}

/* ---- 3. a write with no connection pending takes no lock ---- */

struct holder {
	struct native_writer *nw;
	atomic_int state; /* 1: locks held; 2: let go; 3: released */
};

/* Holds the handshakes' lock and the sections' mutex until told, or for
 * TEST_DEADLINE_S: then a write is blocked on one of them, and the test
 * process ends at once (its children die with it). */
static void *hold_locks(void *arg)
{
	struct holder *h = arg;
	pthread_mutex_lock(&h->nw->section_mx);
	pthread_mutex_lock(&h->nw->lock);
	atomic_store(&h->state, 1);
	uint64_t until = now_ns() + TEST_DEADLINE_S * 1000000000ull;
	while (atomic_load(&h->state) != 2) {
		if (now_ns() > until) {
			fprintf(stderr, "test_write_takes_no_lock: writes still blocked after %d s\n",
				TEST_DEADLINE_S);
			_exit(1);
		}
		sleep_ns(1000000);
	}
	pthread_mutex_unlock(&h->nw->lock);
	pthread_mutex_unlock(&h->nw->section_mx);
	atomic_store(&h->state, 3);
	return NULL;
}

/* A child that connects at 'g' with @timeout_ms: exit 0 if the result is
 * @want (0: and it reads version @seq of @len bytes whole). Forked before
 * the test holds the locks: fork() itself waits for the handshakes' lock. */
static pid_t connect_later(struct link *l, const char *sock, unsigned timeout_ms, int want,
			   uint64_t seq, size_t len)
{
	pid_t pid = spawn(l);
	if (pid == 0) {
		struct mmsync_reader *r;
		MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = timeout_ms);
		if (hear(l->cmd[0]) != 'g')
			_exit(2);
		int err = mmsync_reader_connect(&r, sock, &o);
		if (err != want)
			_exit(3);
		_exit(!err && read_is(r, seq, len) ? 4 : 0);
	}
	return pid;
}

static void test_write_takes_no_lock(void **unused)
{
	(void)unused;
	char sock[64];
	struct link lr, llate, lafter;
	struct mmsync_write_info info;

	sock_name(sock, sizeof(sock), "nolock");
	struct mmsync_writer *w = serving("nolock", sock, 4096);
	assert_int_equal(publish(w, 36, 1, GRACE_NS, NULL), 0);

	/* A reader reading flat out until told to stop: the writes below wait
	 * for it as for any reader. */
	_Atomic uint64_t *reads = shared_map(sizeof(*reads));
	pid_t reader = spawn(&lr);
	if (reader == 0) {
		struct mmsync_reader *r;
		if (mmsync_reader_connect(&r, sock, NULL) || read_is(r, 1, 36))
			_exit(3);
		say(lr.ack[1], 'c');
		while (!fd_ready(lr.cmd[0], 0)) {
			struct mmsync_view v;
			uint64_t got;
			if (mmsync_read_begin(r, &v))
				_exit(4);
			bool whole = payload_check(v.data, v.len, &got) && got == v.seq;
			int err = mmsync_read_end(r, &v);
			if (err && err != -ESTALE)
				_exit(5);
			if (!err && !whole)
				_exit(6);
			atomic_fetch_add(reads, 1);
		}
		mmsync_reader_close(r);
		_exit(0);
	}
	assert_int_equal(hear(lr.ack[0]), 'c');
	assert_int_equal(publish(w, 36, 2, GRACE_NS, NULL), 0); /* the reader is adopted */
	pid_t late = connect_later(&llate, sock, 300, -ETIMEDOUT, 0, 0);
	pid_t after = connect_later(&lafter, sock, STEP_MS, 0, 202, 36);

	struct holder h = { .nw = w->native };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_locks, &h), 0);
	while (atomic_load(&h.state) != 1)
		sleep_ns(100000);

	/* The lock held is the handshakes': a connect now times out. */
	say(llate.cmd[1], 'g');
	assert_int_equal(wait_child(late), 0);
	link_close(&llate);

	/* Writes, meanwhile, go on: none takes either lock. */
	uint64_t reads0 = atomic_load(reads);
	for (uint64_t seq = 3; seq < 203; seq++) {
		assert_int_equal(publish(w, 36, seq, GRACE_NS, &info), 0);
		assert_int_equal(info.seq, seq);
	}
	atomic_store(&h.state, 2);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(atomic_load(&h.state), 3);
	print_message("200 writes while the locks were held; the reader read %lu times meanwhile\n",
		      (unsigned long)(atomic_load(reads) - reads0));

	/* Connects are served again. */
	say(lafter.cmd[1], 'g');
	assert_int_equal(wait_child(after), 0);
	link_close(&lafter);
	say(lr.cmd[1], 'q');
	assert_int_equal(wait_child(reader), 0);
	link_close(&lr);
	munmap(reads, sizeof(*reads));
	mmsync_writer_close(w);
}

/* ---- 4. generations and handshakes ---- */

/* The writer child's log: a reader that could not be sent a generation is
 * reported with the generation's lock held (native_service.c, rule 4).
 * The test holds the writer there, at 'g', until it says 'c'. */
static struct link gen_link;

static void pause_in_commit(void *ctx, const char *msg)
{
	(void)ctx;
	if (!strstr(msg, "could not be sent a generation"))
		return;
	say(gen_link.ack[1], 'g');
	if (hear(gen_link.cmd[0]) != 'c')
		_exit(20);
}

static void test_generation_during_handshake(void **unused)
{
	(void)unused;
	char sock[64];
	struct link lc, lb;

	sock_name(sock, sizeof(sock), "gen");
	/* The writer: seq 1 (1000 bytes in copies of 4096), then at 'p' seq 2
	 * of 8000 bytes: a new generation. */
	pid_t writer = spawn(&gen_link);
	if (writer == 0) {
		struct mmsync_writer *w = writer_new("gen", 4096, MMSYNC_BPF_OFF, pause_in_commit, NULL);
		if (listen_serving(w, sock) || publish(w, 1000, 1, GRACE_NS, NULL))
			_exit(3);
		say(gen_link.ack[1], 'w');
		if (hear(gen_link.cmd[0]) != 'p')
			_exit(4);
		say(gen_link.ack[1], publish(w, 8000, 2, GRACE_NS, NULL) ? 'x' : 'o');
		if (hear(gen_link.cmd[0]) != 'q')
			_exit(5);
		mmsync_writer_close(w);
		_exit(0);
	}
	struct link *lw = &gen_link;
	assert_int_equal(hear(lw->ack[0]), 'w');

	/* A reader that stops receiving: the generation cannot be sent to it
	 * (the writer sees no event for it before). */
	pid_t deaf = spawn(&lc);
	if (deaf == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		if (mmsync_reader_connect(&r, sock, NULL) || read_is(r, 1, 1000))
			_exit(3);
		int s = own_socket();
		if (s < 0 || shutdown(s, SHUT_RD))
			_exit(4);
		say(lc.ack[1], 'c');
		if (hear(lc.cmd[0]) != 'e')
			_exit(5);
		_exit(mmsync_read_begin(r, &v) == -ECONNRESET ? 0 : 6); /* revoked, and told */
	}
	assert_int_equal(hear(lc.ack[0]), 'c');

	/* The growing write: the writer stops inside the commit. */
	say(lw->cmd[1], 'p');
	int c = hear(lw->ack[0]);
	if (c == 'o')
		fail_msg("the generation was sent to a reader that stopped receiving");
	assert_int_equal(c, 'g');

	/* A reader connecting now: either it is handed generation 1 and then
	 * sent generation 2, or it is handed generation 2. */
	pid_t newcomer = spawn(&lb);
	if (newcomer == 0) {
		struct mmsync_reader *r;
		struct mmsync_stat st = { .sz = sizeof(st) };
		MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = STEP_MS);
		int err = mmsync_reader_connect(&r, sock, &o);
		if (err) {
			fprintf(stderr, "newcomer: %s\n", mmsync_strerror(err));
			_exit(3);
		}
		say(lb.ack[1], 'c');
		if (hear(lb.cmd[0]) != 'r')
			_exit(4);
		if ((err = read_is(r, 2, 8000))) {
			fprintf(stderr, "newcomer: %s\n", mmsync_strerror(err));
			_exit(5);
		}
		if (mmsync_reader_stat(r, &st) || st.generation != 2)
			_exit(6);
		mmsync_reader_close(r);
		_exit(0);
	}
	/* Time for the thread to hand the newcomer a hello, if it would: it
	 * must not, in the middle of the commit (the handshake waits for the
	 * lock the commit holds). A slower wrong hello would get past this
	 * check, never a right one fail it. */
	c = hear_within(lb.ack[0], 1000);
	if (c == 'c')
		fail_msg("the newcomer was handed a hello in the middle of a generation's commit");
	say(lw->cmd[1], 'c');
	assert_int_equal(hear(lw->ack[0]), 'o');
	assert_int_equal(hear(lb.ack[0]), 'c');
	say(lb.cmd[1], 'r');
	assert_int_equal(wait_child(newcomer), 0);
	link_close(&lb);
	say(lc.cmd[1], 'e');
	assert_int_equal(wait_child(deaf), 0);
	link_close(&lc);
	say(lw->cmd[1], 'q');
	assert_int_equal(wait_child(writer), 0);
	link_close(lw);
}

/* Readers connecting, reading and leaving in a loop while the writer makes
 * a new generation at every write, then while it writes small payloads
 * flat out: each read whole, each reader following every generation it
 * was connected through. */
struct churn {
	atomic_int stop;
	_Atomic uint64_t connects, reads, last_seq;
	struct reader_err {
		int err, step;
	} reader[3];
};

static __attribute__((noreturn)) void churn_reader(struct churn *ch, int k, const char *sock)
{
	MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = STEP_MS);
	while (!atomic_load(&ch->stop)) {
		struct mmsync_reader *r;
		int err = mmsync_reader_connect(&r, sock, &o);
		if (err) {
			ch->reader[k] = (struct reader_err){ err, 1 };
			_exit(3);
		}
		atomic_fetch_add(&ch->connects, 1);
		for (int i = 0; i < 20; i++) {
			struct mmsync_view v;
			uint64_t got;
			if ((err = mmsync_read_begin(r, &v)) == -ENODATA)
				continue;
			if (err) {
				ch->reader[k] = (struct reader_err){ err, 2 };
				_exit(4);
			}
			bool whole = v.len == mmsync_version_size(v.version) &&
				     payload_check(v.data, v.len, &got) && got == v.seq;
			if ((err = mmsync_read_end(r, &v)) || !whole) {
				ch->reader[k] = (struct reader_err){ err ? err : -EILSEQ, 3 };
				_exit(5);
			}
			atomic_fetch_add(&ch->reads, 1);
			sleep_ns(200000);
		}
		mmsync_reader_close(r);
	}
	_exit(0);
}

static void test_generations_while_connecting(void **unused)
{
	(void)unused;
	char sock[64];
	struct churn *ch = shared_map(sizeof(*ch));
	pid_t readers[3];

	sock_name(sock, sizeof(sock), "churn");
	atomic_store(&revoked, 0);
	struct mmsync_writer *w = serving("churn", sock, 4096);
	assert_int_equal(publish(w, 100, 1, GRACE_NS, NULL), 0);
	for (int k = 0; k < 3; k++)
		if ((readers[k] = test_fork()) == 0)
			churn_reader(ch, k, sock);
	while (atomic_load(&ch->connects) < 3)
		sleep_ns(1000000);
	/* Copies double at each write, from 4 KiB to 8 MiB: 12 generations,
	 * with the readers' connects in between. */
	struct mmsync_stat st = { .sz = sizeof(st) };
	struct mmsync_reader *t = table_reader(w);
	uint64_t seq = 1, gen0;
	assert_int_equal(mmsync_reader_stat(t, &st), 0);
	gen0 = st.generation;
	mmsync_reader_close(t); /* exported descriptors go stale with the generation */
	uint64_t capacity = 4096;
	for (int g = 0; g < 12; g++) {
		uint64_t c0 = atomic_load(&ch->connects);
		/* A grace no descheduled reader reaches: no eviction, no -ESTALE. */
		assert_int_equal(publish(w, capacity + 1, ++seq, 60ull * 1000000000u, NULL), 0);
		capacity *= 2;
		for (uint64_t until = now_ns() + STEP_MS * 1000000ull;
		     atomic_load(&ch->connects) < c0 + 2 && now_ns() < until;)
			sleep_ns(1000000);
	}
	/* Then small writes flat out while readers come and go: the thread's
	 * sections (their departures, adoption, the figures) fall between
	 * writes, and handshakes in the middle of them. */
	uint64_t c0 = atomic_load(&ch->connects), writes = 0;
	for (uint64_t until = now_ns() + STEP_MS * 1000000ull;
	     atomic_load(&ch->connects) < c0 + 20 && now_ns() < until; writes++) {
		seq++;
		assert_int_equal(publish(w, 100 + seq % 900, seq, 60ull * 1000000000u, NULL), 0);
	}
	atomic_store(&ch->stop, 1);
	for (int k = 0; k < 3; k++) {
		int status = wait_child(readers[k]);
		if (status)
			fail_msg("reader %d: step %d: %s", k, ch->reader[k].step,
				 mmsync_strerror(ch->reader[k].err));
	}
	t = table_reader(w);
	assert_int_equal(mmsync_reader_stat(t, &st), 0);
	assert_int_equal(st.generation, gen0 + 12);
	print_message("%lu connects, %lu reads through 12 generations and %lu small writes\n",
		      (unsigned long)ch->connects, (unsigned long)ch->reads, (unsigned long)writes);
	assert_true(ch->connects >= 3 + 12 + 20);
	/* Every reader was seen dead as it left: none kept alive by a copy of
	 * its slot's lock in a reader forked during its handshake. */
	assert_int_equal(atomic_load(&revoked), 0);
	mmsync_reader_close(t);
	munmap(ch, sizeof(*ch));
	mmsync_writer_close(w);
}

/* ---- 5. a writer that does not dispatch; listen's flags ---- */

/* A writer that listens but never dispatches: a connect times out, within
 * its timeout even once the socket's queue is full (connect(2) itself would
 * block then), and what the reader is told says what to check. */
static void test_timeout_says_dispatch(void **unused)
{
	(void)unused;
	char sock[64];

	sock_name(sock, sizeof(sock), "nodispatch");
	struct mmsync_writer *w = writer_new("nodispatch", 4096, MMSYNC_BPF_OFF, NULL, NULL);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0); /* no thread, never dispatched */
	assert_int_equal(publish(w, 100, 1, GRACE_NS, NULL), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = 300);
		if (mmsync_reader_connect(&r, sock, &o) != -ETIMEDOUT)
			_exit(3);
		/* Fill the queue (64 and one more) with connections nobody
		 * takes, then connect again: a timeout, not a hang. */
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s", sock + 1);
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sock));
		int n = 0;
		for (; n < 1000; n++) {
			int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (s < 0)
				_exit(4);
			if (connect(s, (struct sockaddr *)&sa, len)) {
				if (errno != EAGAIN)
					_exit(5);
				close(s);
				break;
			}
		}
		if (n == 1000)
			_exit(6); /* the queue never filled */
		uint64_t t0 = now_ns();
		if (mmsync_reader_connect(&r, sock, &o) != -ETIMEDOUT)
			_exit(7);
		/* It waited for its timeout, not for the writer. */
		_exit(now_ns() - t0 >= 300000000ull ? 0 : 8);
	}
	assert_int_equal(wait_child(pid), 0);
	const char *why = mmsync_strerror(-ETIMEDOUT);
	print_message("-ETIMEDOUT: %s\n", why);
	assert_non_null(strstr(why, "the writer accepted no connection in time"));
	assert_non_null(strstr(why, "mmsync_writer_dispatch()"));
	assert_non_null(strstr(why, "service thread (MMSYNC_LISTEN_SERVE)"));
	mmsync_writer_close(w);
}

/* Listen flags sit on bits 24-31, apart from every other options struct's;
 * anything but MMSYNC_LISTEN_SERVE is refused, and leaves the writer as it
 * was: not listening. */
static void test_listen_flags(void **unused)
{
	(void)unused;
	char sock[64];
	static const unsigned others[] = {
		MMSYNC_SINGLE_WRITER, MMSYNC_NO_RESET,					/* writer_opts */
		MMSYNC_HUGETLB, MMSYNC_CHECKSUM, MMSYNC_BPF_OFF, MMSYNC_BPF_REQUIRE,	/* native_opts */
		MMSYNC_KEEP_PINS,
		MMSYNC_VERIFY_CHECKSUM, MMSYNC_FENCED, MMSYNC_FENCELESS,		/* reader_opts */
		1u << 25, 1u << 31,							/* unused */
	};

	assert_true(MMSYNC_LISTEN_SERVE >= 1u << 24);
	assert_int_equal(MMSYNC_LISTEN_SERVE & (MMSYNC_LISTEN_SERVE - 1), 0); /* one bit */
	sock_name(sock, sizeof(sock), "flags");
	struct mmsync_writer *w = writer_new("flags", 4096, MMSYNC_BPF_OFF, NULL, NULL);
	for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
		MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = others[k]);
		MMSYNC_OPTS(mmsync_listen_opts, both, .flags = others[k] | MMSYNC_LISTEN_SERVE);
		if (mmsync_writer_listen(w, sock, &lo) != -EINVAL ||
		    mmsync_writer_listen(w, sock, &both) != -EINVAL)
			fail_msg("listen flag 0x%x was not refused", others[k]);
	}
	assert_int_equal(count_threads("mmsync-serve"), 0);
	assert_int_equal(listen_serving(w, sock), 0); /* nothing was left listening */
	assert_int_equal(count_threads("mmsync-serve"), 1);
	mmsync_writer_close(w);
}

/* ---- 6. fork() ---- */

static bool is_socket(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool has_pins(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/fs/bpf/mmsync/%s/state", name);
	return access(path, F_OK) == 0;
}

/* In a child forked while the parent's service thread runs: every function
 * on the inherited writer is refused with -ECHILD, once its arguments have
 * passed their checks. Return: 0, or which call was not refused. */
static int copy_refused(struct mmsync_writer *w)
{
	struct mmsync_listen_opts lo = { .sz = sizeof(lo) };
	int fds[MMSYNC_NR_FDS];
	void *ptr;
	int memfd = memfd_create("src", MFD_CLOEXEC);

	if (memfd < 0 || write(memfd, "xyz", 3) != 3)
		return 20;
	if (mmsync_write(w, "x", 1, GRACE_NS, NULL) != -ECHILD)
		return 21;
	if (mmsync_write_from_fd(w, memfd, 0, 3, GRACE_NS, NULL) != -ECHILD)
		return 22;
	if (mmsync_write_begin(w, 1, GRACE_NS, &ptr) != -ECHILD)
		return 23;
	/* Nothing begun here: the argument checks come first. */
	if (mmsync_write_commit(w, 1, NULL) != -EINVAL || mmsync_write_abort(w) != -EINVAL)
		return 24;
	if (mmsync_writer_dispatch(w) != -ECHILD || mmsync_writer_fd(w) != -ECHILD)
		return 25;
	if (mmsync_writer_listen(w, "@mmsync-svc-never", &lo) != -ECHILD)
		return 26;
	if (mmsync_writer_export_fds(w, fds) != -ECHILD)
		return 27;
	close(memfd);
	return 0;
}

/* Descriptors an exec would keep: those this process had before the test
 * began (from whoever started it), and those it makes since. */
static bool kept_before[1024];

static void note_kept_fds(void)
{
	for (int fd = 0; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);
		kept_before[fd] = fl >= 0 && !(fl & FD_CLOEXEC);
	}
}

/* Descriptors made since note_kept_fds(), but @keep_a and @keep_b, that an
 * exec would keep. */
static int fds_kept_across_exec(int keep_a, int keep_b)
{
	int n = 0;
	for (int fd = 3; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !kept_before[fd] && fd != keep_a && fd != keep_b &&
		    !(fl & FD_CLOEXEC)) {
			char path[64], to[256] = "";
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			if (readlink(path, to, sizeof(to) - 1) < 0)
				snprintf(to, sizeof(to), "?");
			fprintf(stderr, "fd %d (%s) would stay open across an exec\n", fd, to);
			n++;
		}
	}
	return n;
}

/* A parent serving with its thread forks: the child connects a reader of
 * its own and reads; the parent goes on publishing and serving; the child
 * cannot use the writer it inherited, and closing that copy (and the
 * reader it inherited, which held no view) changes nothing of the
 * parent's: the socket file, the pins, the header, the connections. */
static void test_fork_child_closes_copy(void **unused)
{
	(void)unused;
	struct tmp_prefix tmp;
	char sock[192];
	const char *name = uniq("forked");
	struct link l;
	struct mmsync_writer *w;

	note_kept_fds();
	tmp_prefix_make(&tmp, "sock");
	snprintf(sock, sizeof(sock), "%s", tmp.prefix);
	assert_int_equal(mmsync_writer_create(&w, name, NULL), 0); /* BPF pins where allowed */
	assert_int_equal(listen_serving(w, sock), 0);
	assert_int_equal(publish(w, 1000, 1, GRACE_NS, NULL), 0);
	bool pins = has_pins(name);
	struct mmsync_reader *r, *t = table_reader(w);
	assert_int_equal(mmsync_reader_connect(&r, sock, NULL), 0); /* served by the thread */
	assert_int_equal(read_is(r, 1, 1000), 0);
	struct mmsync_stat st;
	assert_true(figures_reach(t, 2, 0, &st));

	pid_t child = spawn(&l);
	if (child == 0) {
		struct mmsync_reader *mine;
		int fd_before = count_fds();
		/* The inherited writer: its thread is the parent's. */
		int step = copy_refused(w);
		if (step)
			_exit(step);
		if (mmsync_reader_connect(&mine, sock, NULL) || read_is(mine, 1, 1000))
			_exit(4);
		say(l.ack[1], 'c');
		if (hear(l.cmd[0]) != 'n' || read_until(mine, 2, 1000))
			_exit(5);
		mmsync_writer_close(w);
		mmsync_reader_close(r);
		mmsync_reader_close(t);
		if (count_fds() >= fd_before)
			_exit(6); /* the copies' descriptors were let go */
		/* What stays (connections the parent's thread may have been
		 * changing at the fork) goes at an exec. */
		if (fds_kept_across_exec(l.cmd[0], l.ack[1]))
			_exit(8);
		say(l.ack[1], 'd');
		if (hear(l.cmd[0]) != 'q' || read_is(mine, 3, 1000))
			_exit(7);
		mmsync_reader_close(mine);
		_exit(0);
	}
	assert_int_equal(hear(l.ack[0]), 'c');
	assert_int_equal(publish(w, 1000, 2, GRACE_NS, NULL), 0);
	say(l.cmd[1], 'n');
	assert_int_equal(hear(l.ack[0]), 'd');

	/* Nothing of the parent's moved. */
	assert_true(is_socket(sock));
	assert_int_equal(has_pins(name), pins);
	assert_true(figures_reach(t, 3, 0, &st)); /* r, t and the child's own reader */
	assert_int_equal(st.writer_pid, getpid());
	assert_int_equal(mmsync_reader_check(r), 0);
	assert_int_equal(read_is(r, 2, 1000), 0);
	assert_int_equal(publish(w, 1000, 3, GRACE_NS, NULL), 0);
	assert_int_equal(read_is(r, 3, 1000), 0);
	say(l.cmd[1], 'q');
	assert_int_equal(wait_child(child), 0);
	link_close(&l);
	/* A write begun in the parent: a child can neither commit nor abort
	 * it, and a refused call leaves it begun. */
	void *ptr;
	assert_int_equal(mmsync_write_begin(w, 1000, GRACE_NS, &ptr), 0);
	payload_fill(ptr, 1000, 4);
	pid_t second = test_fork();
	if (second == 0)
		_exit(mmsync_write_commit(w, 1000, NULL) != -ECHILD  ? 3
		      : mmsync_write_abort(w) != -ECHILD	     ? 4
		      : mmsync_write_commit(w, 1000, NULL) != -ECHILD ? 5
								      : 0);
	assert_int_equal(wait_child(second), 0);
	assert_int_equal(mmsync_write_commit(w, 1000, NULL), 0);
	assert_int_equal(read_is(r, 4, 1000), 0);
	/* A new reader is served, and r's departure is still seen: its
	 * connection is in the parent's epoll set. */
	pid_t late = test_fork();
	if (late == 0) {
		struct mmsync_reader *x;
		_exit(mmsync_reader_connect(&x, sock, NULL) ? 3 : read_is(x, 4, 1000) ? 4 : 0);
	}
	assert_int_equal(wait_child(late), 0);
	mmsync_reader_close(r);
	assert_true(figures_reach(t, 1, 3, &st));
	mmsync_reader_close(t);
	mmsync_writer_close(w);
	assert_false(is_socket(sock)); /* the writer's process removes it */
	assert_false(has_pins(name));
	tmp_prefix_remove(&tmp);
}

/* Without a service thread a writer passes to a child that uses it (a
 * daemon's fork): the child becomes the writer's process; the parent
 * closing its copy meanwhile removes nothing. */
static void test_fork_child_takes_over(void **unused)
{
	(void)unused;
	struct tmp_prefix tmp;
	char sock[192];
	struct link l;

	tmp_prefix_make(&tmp, "sock");
	snprintf(sock, sizeof(sock), "%s", tmp.prefix);
	struct mmsync_writer *w = writer_new("daemon", 4096, MMSYNC_BPF_OFF, NULL, NULL);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	assert_int_equal(publish(w, 1000, 1, GRACE_NS, NULL), 0);

	pid_t child = spawn(&l);
	if (child == 0) {
		if (publish(w, 1000, 2, GRACE_NS, NULL))
			_exit(3);
		say(l.ack[1], 'w');
		uint64_t until = now_ns() + STEP_MS * 1000000ull;
		while (!fd_ready(l.cmd[0], 1)) { /* serves until told */
			if (mmsync_writer_dispatch(w) || now_ns() > until)
				_exit(4);
		}
		if (hear(l.cmd[0]) != 'q')
			_exit(5);
		mmsync_writer_close(w);
		_exit(is_socket(sock) ? 6 : 0); /* the writer's process removes it */
	}
	assert_int_equal(hear(l.ack[0]), 'w');
	mmsync_writer_close(w); /* the parent's copy: the child is the writer now */
	assert_true(is_socket(sock));
	pid_t reader = test_fork();
	if (reader == 0) {
		struct mmsync_reader *r;
		struct mmsync_stat st = { .sz = sizeof(st) };
		if (mmsync_reader_connect(&r, sock, NULL) || read_is(r, 2, 1000))
			_exit(3);
		if (mmsync_reader_stat(r, &st) || st.writer_pid != child)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(wait_child(reader), 0);
	say(l.cmd[1], 'q');
	assert_int_equal(wait_child(child), 0);
	link_close(&l);
	assert_false(is_socket(sock));
	tmp_prefix_remove(&tmp);
}

/* The child that took the writer over is gone (killed, it closed nothing):
 * the parent's close then does what the writer's would have done, the
 * socket file goes and the header says no writer is there. */
static void test_fork_taken_over_writer_gone(void **unused)
{
	(void)unused;
	struct tmp_prefix tmp;
	char sock[192];
	struct link l;
	struct mmsync_stat st = { .sz = sizeof(st) };

	tmp_prefix_make(&tmp, "sock");
	snprintf(sock, sizeof(sock), "%s", tmp.prefix);
	struct mmsync_writer *w = writer_new("orphan", 4096, MMSYNC_BPF_OFF, NULL, NULL);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	assert_int_equal(publish(w, 1000, 1, GRACE_NS, NULL), 0);
	struct mmsync_reader *t = table_reader(w);

	pid_t child = spawn(&l);
	if (child == 0) {
		if (publish(w, 1000, 2, GRACE_NS, NULL))
			_exit(3);
		say(l.ack[1], 'w');
		hear(l.cmd[0]); /* killed before a word comes */
		_exit(4);
	}
	assert_int_equal(hear(l.ack[0]), 'w');
	assert_int_equal(mmsync_reader_stat(t, &st), 0);
	assert_int_equal(st.writer_pid, child);
	assert_int_equal(st.seq, 2);
	kill(child, SIGKILL);
	assert_int_equal(wait_child(child), 128 + SIGKILL);
	link_close(&l);
	assert_true(is_socket(sock));
	mmsync_writer_close(w);
	assert_false(is_socket(sock));
	assert_int_equal(mmsync_reader_stat(t, &st), 0);
	assert_int_equal(st.writer_pid, 0);
	assert_int_equal(mmsync_reader_check(t), -EPIPE);
	mmsync_reader_close(t);
	tmp_prefix_remove(&tmp);
}

/* A compat read: 0 if the version is @seq's payload of @len bytes, whole. */
static int compat_read_is(struct mmsync_reader *r, uint64_t seq, size_t len)
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

/* Compat handles across fork(): a child closing the writer and the reader
 * it inherited releases its own references only. The single-writer lock
 * stays the parent's, the parent's reader reads on, no count is left. */
static void test_fork_compat(void **unused)
{
	(void)unused;
	struct tmp_prefix tmp;
	struct mmsync_writer *w, *other;
	struct mmsync_reader *r;
	MMSYNC_OPTS(mmsync_writer_opts, o, .flags = MMSYNC_SINGLE_WRITER);

	tmp_prefix_make(&tmp, "fork");
	assert_int_equal(mmsync_writer_open(&w, tmp.prefix, &o), 0);
	assert_int_equal(publish(w, 100, 1, GRACE_NS, NULL), 0);
	assert_int_equal(mmsync_reader_open(&r, tmp.prefix, NULL), 0);
	assert_int_equal(compat_read_is(r, 1, 100), 0); /* no view held at the fork */
	pid_t child = test_fork();
	if (child == 0) {
		struct mmsync_writer *x;
		mmsync_writer_close(w);
		mmsync_reader_close(r);
		/* The lock is still held: by the parent. */
		_exit(mmsync_writer_open(&x, tmp.prefix, &o) == -EBUSY ? 0 : 3);
	}
	assert_int_equal(wait_child(child), 0);
	assert_int_equal(mmsync_writer_open(&other, tmp.prefix, &o), -EBUSY);
	assert_int_equal(publish(w, 100, 2, GRACE_NS, NULL), 0);
	assert_int_equal(compat_read_is(r, 2, 100), 0);
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.readers[0], 0);
	assert_int_equal(st.readers[1], 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&tmp);
}

/*
 * fork() while a handshake is under way in another thread. The handshake
 * opens the description that carries the new reader's liveness lock, sends
 * it and closes it; a child forked in between would hold that lock for as
 * long as it lived, and the writer would take the reader, once it left,
 * for a live one whose connection failed (revoked) instead of taking its
 * slot back.
 *
 * The test puts the fork in that window. It runs in a process of its own
 * (the lab), where a seccomp filter hands every sendmsg(2) to a supervisor
 * thread (SECCOMP_RET_USER_NOTIF): the handshaker (the service thread, or a
 * thread dispatching) stops in the send of the hello, with the description
 * open. Only then does the lab's main thread fork, and the send goes on
 * once the fork has returned or the main thread is seen waiting in it. With
 * the library's fork handlers the fork waits for the handshake; without
 * them it lands in it.
 */

/* Whether thread @tid of this process sleeps in futex(2). */
static bool task_in_futex(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	return current_syscall(path) == SYS_futex;
}

struct send_gate {
	int listener;	   /* the filter's notification descriptor */
	pid_t main_tid;
	atomic_int held;   /* a sendmsg is held */
	atomic_int forking; /* the main thread is about to fork */
	atomic_int forked; /* its fork() returned */
	atomic_int stop;
	atomic_int error;
};

/* Holds the first sendmsg until the main thread has forked or waits in
 * fork(); lets every other one through at once. */
static void *send_supervisor(void *arg)
{
	struct send_gate *g = arg;
	bool first = true;
	while (!atomic_load(&g->stop)) {
		struct pollfd p = { .fd = g->listener, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		struct seccomp_notif req;
		memset(&req, 0, sizeof(req));
		if (ioctl(g->listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			atomic_store(&g->error, errno);
			return NULL;
		}
		if (first) {
			first = false;
			atomic_store(&g->held, 1);
			uint64_t until = now_ns() + 2 * STEP_MS * 1000000ull;
			while (!atomic_load(&g->forking) ||
			       !(atomic_load(&g->forked) || task_in_futex(g->main_tid))) {
				if (now_ns() > until)
					_exit(40); /* the lab's main thread is stuck */
				sleep_ns(1000000);
			}
		}
		struct seccomp_notif_resp resp = {
			.id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE,
		};
		if (ioctl(g->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) && errno != ENOENT) {
			atomic_store(&g->error, errno);
			return NULL;
		}
	}
	return NULL;
}

/* The caller's loop, in a thread: dispatches until told to stop. */
struct dispatcher {
	struct mmsync_writer *w;
	atomic_int stop;
};

static void *dispatch_loop(void *arg)
{
	struct dispatcher *d = arg;
	struct pollfd p = { .fd = mmsync_writer_fd(d->w), .events = POLLIN };
	while (!atomic_load(&d->stop)) {
		poll(&p, 1, 10);
		if (mmsync_writer_dispatch(d->w))
			return (void *)1;
	}
	return NULL;
}

#define LAB_CHECK(cond, code)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fork lab: %s: failed (%d)\n", #cond, code); \
			_exit(code);                                            \
		}                                                               \
	} while (0)

/* The lab: exit 0, 77 where seccomp cannot notify, or the failed step. */
static __attribute__((noreturn)) void fork_lab(bool serve, const char *sock)
{
	struct link lr, lc;
	struct mmsync_writer *w;
	struct mmsync_stat st;

	/* The reader: connects at 'g', says 'c' once it read, leaves at 'q'. */
	pid_t reader = spawn(&lr);
	if (reader == 0) {
		struct mmsync_reader *r;
		MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = STEP_MS);
		if (hear(lr.cmd[0]) != 'g')
			_exit(2);
		if (mmsync_reader_connect(&r, sock, &o) || read_is(r, 1, 100))
			_exit(3);
		say(lr.ack[1], 'c');
		if (hear(lr.cmd[0]) != 'q')
			_exit(4);
		mmsync_reader_close(r);
		_exit(0);
	}

	/* sendmsg(2) to the supervisor, in this thread and those made after. */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendmsg, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct send_gate g = { .main_tid = getpid() };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    (g.listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				       SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog)) < 0) {
		fprintf(stderr, "fork lab: seccomp user notification: %s\n", strerror(errno));
		_exit(77);
	}
	pthread_t sup;
	LAB_CHECK(pthread_create(&sup, NULL, send_supervisor, &g) == 0, 10);

	MMSYNC_OPTS(mmsync_native_opts, no, .capacity = 4096, .flags = MMSYNC_BPF_OFF,
		    .log = count_revoked);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = serve ? MMSYNC_LISTEN_SERVE : 0);
	LAB_CHECK(mmsync_writer_create(&w, uniq("forkhs"), &no) == 0, 11);
	LAB_CHECK(mmsync_writer_listen(w, sock, &lo) == 0, 12);
	LAB_CHECK(publish(w, 100, 1, GRACE_NS, NULL) == 0, 13);
	struct mmsync_reader *t;
	int fds[MMSYNC_NR_FDS];
	LAB_CHECK(mmsync_writer_export_fds(w, fds) == 0, 14);
	LAB_CHECK(mmsync_reader_from_fds(&t, fds, NULL) == 0, 15);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	/* From here on the writer belongs to its handshaker. */
	struct dispatcher d = { .w = w };
	pthread_t dt;
	if (!serve)
		LAB_CHECK(pthread_create(&dt, NULL, dispatch_loop, &d) == 0, 16);

	say(lr.cmd[1], 'g');
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	while (!atomic_load(&g.held)) {
		LAB_CHECK(now_ns() < until, 17); /* the hello was never sent */
		LAB_CHECK(!atomic_load(&g.error), 18);
		sleep_ns(1000000);
	}

	/* The fork, in the middle of the handshake; the child lives on until
	 * told, after the reader has left. */
	atomic_store(&g.forking, 1);
	pid_t child = spawn(&lc);
	if (child == 0)
		_exit(hear(lc.cmd[0]) == 'q' ? 0 : 2);
	atomic_store(&g.forked, 1);
	LAB_CHECK(hear(lr.ack[0]) == 'c', 19);

	/* The reader leaves: taken back, not revoked, while the child lives. */
	say(lr.cmd[1], 'q');
	LAB_CHECK(wait_child(reader) == 0, 20);
	until = now_ns() + STEP_MS * 1000000ull;
	do {
		st = (struct mmsync_stat){ .sz = sizeof(st) };
		LAB_CHECK(mmsync_reader_stat(t, &st) == 0, 21);
		if (st.reclaimed >= 1 || atomic_load(&revoked))
			break;
		sleep_ns(5000000);
	} while (now_ns() < until);
	if (atomic_load(&revoked)) {
		fprintf(stderr, "fork lab: the reader that left was revoked: the child forked "
				"during its handshake holds its lock\n");
		_exit(30);
	}
	LAB_CHECK(st.reclaimed == 1, 31);
	say(lc.cmd[1], 'q');
	LAB_CHECK(wait_child(child) == 0, 32);
	if (!serve) {
		void *ret;
		atomic_store(&d.stop, 1);
		LAB_CHECK(pthread_join(dt, &ret) == 0 && !ret, 33);
	}
	atomic_store(&g.stop, 1);
	LAB_CHECK(pthread_join(sup, NULL) == 0 && !atomic_load(&g.error), 34);
	mmsync_reader_close(t);
	mmsync_writer_close(w);
	_exit(0);
}

static void fork_during_handshake(bool serve)
{
	char sock[64];
	sock_name(sock, sizeof(sock), "forkhs");
	atomic_store(&revoked, 0);
	pid_t lab = test_fork();
	if (lab == 0)
		fork_lab(serve, sock);
	int status = wait_child(lab);
	if (status == 77)
		test_skip_or_fail("no seccomp user notification here");
	if (status)
		fail_msg("the fork lab failed at step %d (see its stderr)", status);
}

static void test_fork_during_handshake(void **unused)
{
	(void)unused;
	fork_during_handshake(true);
}

/* The same with the caller's own loop dispatching in another thread. */
static void test_fork_during_dispatch_handshake(void **unused)
{
	(void)unused;
	fork_during_handshake(false);
}

/* ---- 7. close ---- */

static void test_close_joins_thread(void **unused)
{
	(void)unused;
	char sock[64];
	struct link l;

	sock_name(sock, sizeof(sock), "close");
	/* The reader is forked first: a child holding a copy of the writer's
	 * descriptors would keep the header's lock, and the writer alive to
	 * mmsync_reader_check(), until it closed them too. */
	pid_t pid = spawn(&l);
	if (pid == 0) {
		struct mmsync_reader *r;
		if (hear(l.cmd[0]) != 'g')
			_exit(2);
		if (mmsync_reader_connect(&r, sock, NULL) || read_is(r, 1, 100))
			_exit(3);
		say(l.ack[1], 'c');
		if (hear(l.cmd[0]) != 'x')
			_exit(4);
		/* The writer has gone; the last version stays readable. */
		_exit(mmsync_reader_check(r) != -EPIPE ? 5 : read_is(r, 1, 100) ? 6 : 0);
	}
	assert_int_equal(count_threads("mmsync-serve"), 0);
	struct mmsync_writer *w = serving("close", sock, 4096);
	assert_int_equal(count_threads("mmsync-serve"), 1);
	assert_int_equal(publish(w, 100, 1, GRACE_NS, NULL), 0);
	say(l.cmd[1], 'g');
	assert_int_equal(hear(l.ack[0]), 'c');
	mmsync_writer_close(w);
	assert_int_equal(count_threads("mmsync-serve"), 0); /* joined, not left running */
	say(l.cmd[1], 'x');
	assert_int_equal(wait_child(pid), 0);
	link_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_serves_without_dispatch),
		test_case(test_connect_during_grace_wait),
		test_case(test_connect_during_growing_write),
		test_case(test_write_takes_no_lock),
		test_case(test_generation_during_handshake),
		test_case(test_generations_while_connecting),
		test_case(test_timeout_says_dispatch),
		test_case(test_listen_flags),
		test_case(test_fork_child_closes_copy),
		test_case(test_fork_child_takes_over),
		test_case(test_fork_taken_over_writer_gone),
		test_case(test_fork_compat),
		test_case(test_fork_during_handshake),
		test_case(test_fork_during_dispatch_handshake),
		test_case(test_close_joins_thread),
	};
	return test_run(tests);
}
