/* SPDX-License-Identifier: MIT */
/*
 * fork() and the handles, across processes:
 *  - a child's copy of a serving writer refuses every call
 *    (-ECHILD), and closing it, or an inherited reader, disturbs nothing of
 *    the parent's; a writer without the thread passes to a child that uses
 *    it, and back to the parent's close once that child is gone; compat
 *    handles; a fork() never lands inside a handshake (the library's fork
 *    handlers), with the service thread or a dispatching thread;
 *
 * Readers run in processes, driven step by step through pipes
 * (service_test.h); a step that does not come within TEST_DEADLINE_S fails
 * the test, whose teardown kills the children.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "service_test.h"

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
		if (st.reclaimed + st.disconnects >= 1 || atomic_load(&revoked))
			break;
		sleep_ns(5000000);
	} while (now_ns() < until);
	if (atomic_load(&revoked)) {
		fprintf(stderr, "fork lab: the reader that left was revoked: the child forked "
				"during its handshake holds its lock\n");
		_exit(30);
	}
	LAB_CHECK(st.reclaimed + st.disconnects == 1, 31);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_fork_child_closes_copy),
		test_case(test_fork_child_takes_over),
		test_case(test_fork_taken_over_writer_gone),
		test_case(test_fork_compat),
		test_case(test_fork_during_handshake),
		test_case(test_fork_during_dispatch_handshake),
	};
	return test_run(tests);
}
