/* SPDX-License-Identifier: MIT */
/*
 * The native writer's service thread (mmsync_writer_listen() with
 * MMSYNC_LISTEN_SERVE), across processes (fork() is test_fork.c's):
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

#include "service_test.h"

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
		fail_msg("live %u reclaimed %lu disconnects %lu: the thread did not take back the "
			 "slots", st.live_slots, (unsigned long)st.reclaimed,
			 (unsigned long)st.disconnects);
	assert_int_equal(read_is(t, 2, 1000), 0);
	assert_int_equal(atomic_load(&revoked), 0); /* each was seen dead as it left */
	mmsync_reader_close(t);
	mmsync_writer_close(w);
}

/* ---- 2. a connect during a write's grace period ---- */

/* The writer's main thread is sleeping in a wait for its readers (the waits
 * sleep in 20 µs naps once past their spin): its current system call. */
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

/* ---- 6. close ---- */

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
		test_case(test_close_joins_thread),
	};
	return test_run(tests);
}
