/* SPDX-License-Identifier: MIT */
/*
 * BPF observability: the metrics the pinned iterator prints follow the
 * readers (holding views, killed), agree with mmsync_stat_prometheus() line
 * for line, and the pins come and go with the writer; without CAP_BPF the
 * writer falls back to its memfd alone, or fails when told to require BPF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "harness.h"
#include "mmsync.h"

#define PIN_ROOT "/sys/fs/bpf/mmsync"

static void pin_path(char *buf, size_t n, const char *name, const char *file)
{
	snprintf(buf, n, PIN_ROOT "/%s/%s", name, file);
}

static bool pinned(const char *name)
{
	char p[256];
	pin_path(p, sizeof(p), name, "state");
	return access(p, F_OK) == 0;
}

/* What `cat /sys/fs/bpf/mmsync/NAME/metrics` prints. */
static size_t read_metrics(const char *name, char *buf, size_t cap)
{
	char p[256];
	pin_path(p, sizeof(p), name, "metrics");
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	return len;
}

static long metric(const char *text, const char *sample)
{
	const char *p = strstr(text, sample);
	if (!p)
		fail_msg("no sample %s in:\n%s", sample, text);
	return atol(p + strlen(sample));
}

static struct mmsync_writer *bpf_writer(const char *name, const char *sock, unsigned flags)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = flags);
	int err = mmsync_writer_create(&w, name, &o);
	if (err)
		fail_msg("writer %s: %s", name, mmsync_strerror(err));
	if (!pinned(name))
		test_skip_or_fail("no BPF here: the writer fell back to its memfd");
	if (sock)
		assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	return w;
}

/* A reader child that begins a view and holds it until killed or told. */
static pid_t holder(struct mmsync_writer *w, const char *sock, int release_fd)
{
	int ready[2];
	char c;
	assert_int_equal(pipe(ready), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		MMSYNC_OPTS(mmsync_reader_opts, ro, .timeout_ms = TEST_DEADLINE_S * 1000);
		if (mmsync_reader_connect(&r, sock, &ro) || mmsync_read_begin(r, &v) ||
		    write(ready[1], "r", 1) != 1)
			_exit(3);
		if (read(release_fd, &c, 1) < 0)
			_exit(4);
		mmsync_read_end(r, &v);
		mmsync_reader_close(r);
		_exit(0);
	}
	close(ready[1]);
	/* Serve its connect until it holds its view (or dies: the pipe closes). */
	for (uint64_t until = test_deadline(); !fd_ready(ready[0], 5);) {
		if (now_ns() > until)
			fail_msg("the holder did not connect in %d s", TEST_DEADLINE_S);
		mmsync_writer_dispatch(w);
	}
	read_byte(ready[0], "the holder");
	close(ready[0]);
	return pid;
}

static void test_metrics_follow_readers(void **unused)
{
	(void)unused;
	const char *name = uniq("bpf-readers");
	char sock[64], text[8192], text2[8192], sample[128];
	int release[2];
	struct mmsync_write_info info;
	pid_t held[4];

	snprintf(sock, sizeof(sock), "@mmsync-bpf-%d", (int)getpid());
	struct mmsync_writer *w = bpf_writer(name, sock, 0);
	assert_int_equal(pipe(release), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, &info), 0);
	unsigned x = mmsync_version_idx(info.version);
	for (int i = 0; i < 3; i++)
		held[i] = holder(w, sock, release[0]);
	/* The holders read the current copy: they do not hold this write up
	 * (it takes far less than its grace period, leaving out the time this
	 * thread waited for a CPU). */
	struct span t0 = span_start();
	assert_int_equal(mmsync_write(w, "two", 3, 10 * 1000000000ull, &info), 0);
	assert_true(span_ns(t0) < 1000000000ull);
	assert_int_equal(info.evicted, 0);
	unsigned y = mmsync_version_idx(info.version);
	assert_int_not_equal(x, y);
	held[3] = holder(w, sock, release[0]);
	mmsync_writer_dispatch(w);

	read_metrics(name, text, sizeof(text));
	snprintf(sample, sizeof(sample), "mmsync_readers{name=\"%s\",copy=\"%u\"} ", name, x);
	assert_int_equal(metric(text, sample), 3);
	snprintf(sample, sizeof(sample), "mmsync_readers{name=\"%s\",copy=\"%u\"} ", name, y);
	assert_int_equal(metric(text, sample), 1);
	snprintf(sample, sizeof(sample), "mmsync_reader_slots_live{name=\"%s\"} ", name);
	assert_int_equal(metric(text, sample), 4);
	snprintf(sample, sizeof(sample), "mmsync_write_seq{name=\"%s\"} ", name);
	assert_int_equal(metric(text, sample), 2);

	/* The iterator's text and the library's, from the pinned state: same lines. */
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_stat_pinned(name, &st), 0);
	assert_true(mmsync_stat_prometheus(&st, 1, text2, sizeof(text2)) > 0);
	assert_string_equal(text, text2);

	/* One of the three dies; the writer's next publish (over copy x,
	 * where it was) takes its slot back at once and evicts the two live
	 * holders after the grace period. */
	kill(held[0], SIGKILL);
	assert_int_equal(wait_child(held[0]), 128 + SIGKILL);
	assert_int_equal(mmsync_write(w, "three", 5, 50 * 1000000ull, &info), 0);
	assert_int_equal(info.evicted, 2);
	mmsync_writer_dispatch(w);
	read_metrics(name, text, sizeof(text));
	snprintf(sample, sizeof(sample), "mmsync_readers{name=\"%s\",copy=\"%u\"} ", name, x);
	assert_int_equal(metric(text, sample), 2); /* evicted, but still inside their views */
	snprintf(sample, sizeof(sample), "mmsync_readers{name=\"%s\",copy=\"%u\"} ", name, y);
	assert_int_equal(metric(text, sample), 1);
	snprintf(sample, sizeof(sample), "mmsync_dead_readers_reclaimed_total{name=\"%s\"} ", name);
	assert_int_equal(metric(text, sample), 1);
	snprintf(sample, sizeof(sample), "mmsync_evictions_total{name=\"%s\"} ", name);
	assert_int_equal(metric(text, sample), 2);
	snprintf(sample, sizeof(sample), "mmsync_reader_slots_live{name=\"%s\"} ", name);
	assert_int_equal(metric(text, sample), 3);
	assert_int_equal(mmsync_stat_pinned(name, &st), 0);
	assert_true(mmsync_stat_prometheus(&st, 1, text2, sizeof(text2)) > 0);
	assert_string_equal(text, text2);

	assert_int_equal(write(release[1], "xxx", 3), 3);
	for (int i = 1; i < 4; i++)
		assert_int_equal(wait_child(held[i]), 0);
	close(release[0]);
	close(release[1]);
	mmsync_writer_close(w);
	assert_false(pinned(name)); /* gone with the writer */
}

static void test_pins_lifecycle(void **unused)
{
	(void)unused;
	const char *name = uniq("bpf-pins");
	struct mmsync_writer *w, *w2;
	struct mmsync_stat st = { .sz = sizeof(st) };

	/* Kept pins outlive the writer, with its last figures. */
	w = bpf_writer(name, NULL, MMSYNC_KEEP_PINS);
	assert_int_equal(mmsync_write(w, "kept", 4, 0, NULL), 0);
	mmsync_writer_close(w);
	assert_true(pinned(name));
	assert_int_equal(mmsync_stat_pinned(name, &st), 0);
	assert_int_equal(st.seq, 1);
	assert_int_equal(st.size, 4);

	/* A writer SIGKILLed leaves its pins; the next one of that name replaces them. */
	pid_t pid = test_fork();
	if (pid == 0) {
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096);
		if (mmsync_writer_create(&w, name, &o) || mmsync_write(w, "crashed", 7, 0, NULL))
			_exit(3);
		raise(SIGKILL);
	}
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	assert_true(pinned(name));
	assert_int_equal(mmsync_stat_pinned(name, &st), 0);
	assert_int_equal(st.size, 7);
	w = bpf_writer(name, NULL, 0);
	assert_int_equal(mmsync_stat_pinned(name, &st), 0);
	assert_int_equal(st.seq, 0); /* the new writer's, not the dead one's */
	/* A live writer's pins are not taken over. */
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .log = NULL);
	pid = test_fork();
	if (pid == 0)
		_exit(mmsync_writer_create(&w2, name, &o) == -EEXIST ? 0 : 1);
	assert_int_equal(wait_child(pid), 0);
	mmsync_writer_close(w);
	assert_false(pinned(name));
	assert_int_equal(mmsync_stat_pinned(name, &st), -ENOENT);
	assert_int_equal(mmsync_stat_pinned("no/such", &st), -EINVAL);
}

/* A writer in a pid namespace of its own, as pid @pid there (1: the
 * namespace's init). Sends the host pid of the namespace's init on @ready,
 * then a byte once the pins are up, and waits to be killed: killing that
 * init ends the namespace. Runs in a child of the test, which exits when
 * the init has (22: it was killed). */
static void writer_in_pid_ns(const char *name, pid_t pid, int ready)
{
	if (unshare(CLONE_NEWPID))
		_exit(20);
	pid_t c = fork();
	if (c < 0)
		_exit(21);
	if (c > 0) {
		int status;
		if (write(ready, &c, sizeof(c)) != sizeof(c))
			kill(c, SIGKILL);
		waitpid(c, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 22);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* pid 1 of the namespace */
	if (pid > 1) {
		/* The next pid of this namespace: through its own /proc,
		 * mounted in a mount namespace of its own (never over the
		 * host's /proc). */
		char last[32];
		int n = snprintf(last, sizeof(last), "%d", (int)pid - 1);
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("proc", "/proc", "proc", 0, NULL))
			_exit(23);
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		if (fd < 0 || write(fd, last, (size_t)n) != n)
			_exit(24);
		close(fd);
		c = fork();
		if (c > 0) {
			int status;
			waitpid(c, &status, 0);
			_exit(0);
		}
		if (getpid() != pid)
			_exit(25);
	}
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_REQUIRE);
	if (mmsync_writer_create(&w, name, &o) || mmsync_write(w, "ns", 2, 0, NULL))
		_exit(26);
	if (write(ready, "r", 1) != 1)
		_exit(27);
	pause();
	_exit(0);
}

/* Pins are owned across pid namespaces: a writer SIGKILLed as pid 1 of a
 * namespace does not block the next writer of its name (the host's pid 1
 * lives), and a live writer whose pid there is no pid here keeps its pins
 * from a host writer of the same name. */
static void test_pins_across_pid_namespaces(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_stat st = { .sz = sizeof(st) };
	pid_t far = 4000000; /* a pid no process has here (pid_max is 4194304) */
	while (kill(far, 0) == 0 || errno != ESRCH)
		far++;

	for (int round = 0; round < 2; round++) {
		const char *name = uniq(round ? "bpf-ns-live" : "bpf-ns-dead");
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = test_fork();
		if (pid == 0) {
			close(p[0]);
			writer_in_pid_ns(name, round ? far : 1, p[1]);
		}
		close(p[1]);
		pid_t init;
		assert_true(fd_ready(p[0], TEST_DEADLINE_S * 1000));
		assert_int_equal(read(p[0], &init, sizeof(init)), sizeof(init));
		read_byte(p[0], "the writer in its pid namespace");
		close(p[0]);
		assert_int_equal(mmsync_stat_pinned(name, &st), 0);
		assert_int_equal(st.writer_pid, round ? far : 1);
		if (round == 0) {
			kill(init, SIGKILL); /* the writer, its namespace's init */
			assert_int_equal(wait_child(pid), 22);
			w = bpf_writer(name, NULL, 0);
			mmsync_writer_close(w);
			continue;
		}
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_REQUIRE);
		assert_int_equal(mmsync_writer_create(&w, name, &o), -EEXIST);
		assert_int_equal(mmsync_stat_pinned(name, &st), 0);
		assert_int_equal(st.writer_pid, far); /* still its pins */
		kill(init, SIGKILL); /* the namespace ends, and its writer with it */
		assert_int_equal(wait_child(pid), 22);
		w = bpf_writer(name, NULL, 0);
		mmsync_writer_close(w);
	}
}

/* Drops CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN from this process. */
static int drop_bpf_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -1;
	int caps[] = { CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		d[caps[i] / 32].effective &= ~(1u << (caps[i] % 32));
		d[caps[i] / 32].permitted &= ~(1u << (caps[i] % 32));
	}
	return (int)syscall(SYS_capset, &h, d);
}

static void count_log(void *ctx, const char *msg)
{
	if (strstr(msg, "CAP_BPF"))
		++*(int *)ctx;
}

static void test_without_cap_bpf(void **unused)
{
	(void)unused;
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		struct mmsync_view v;
		int fds[MMSYNC_NR_FDS], logged = 0;
		if (drop_bpf_caps())
			_exit(10);
		/* By default: a memfd header, no pins, readers served all the same. */
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096);
		const char *nocap = uniq("bpf-nocap");
		if (mmsync_writer_create(&w, nocap, &o))
			_exit(3);
		if (pinned(nocap))
			_exit(4);
		if (mmsync_write(w, "fallback", 8, 0, NULL) || mmsync_writer_export_fds(w, fds) ||
		    mmsync_reader_from_fds(&r, fds, NULL) || mmsync_read_begin(r, &v) || v.len != 8 ||
		    memcmp(v.data, "fallback", 8) || mmsync_read_end(r, &v))
			_exit(5);
		mmsync_reader_close(r);
		mmsync_writer_close(w);
		/* Told to require BPF: a clear error. */
		MMSYNC_OPTS(mmsync_native_opts, req, .capacity = 4096, .flags = MMSYNC_BPF_REQUIRE,
			    .log = count_log, .log_ctx = &logged);
		if (mmsync_writer_create(&w, uniq("bpf-nocap"), &req) != -EPERM || logged != 1)
			_exit(6);
		_exit(0);
	}
	int st = wait_child(pid);
	if (st == 10)
		test_skip_or_fail("cannot drop capabilities here");
	assert_int_equal(st, 0);

	/* And with capabilities, BPF off on request. */
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, off, .capacity = 4096, .flags = MMSYNC_BPF_OFF);
	const char *off_name = uniq("bpf-off");
	assert_int_equal(mmsync_writer_create(&w, off_name, &off), 0);
	assert_false(pinned(off_name));
	mmsync_writer_close(w);
	MMSYNC_OPTS(mmsync_native_opts, bad, .flags = MMSYNC_BPF_OFF | MMSYNC_BPF_REQUIRE);
	assert_int_equal(mmsync_writer_create(&w, uniq("bpf-bad"), &bad), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_metrics_follow_readers),
		test_case(test_pins_lifecycle),
		test_case(test_pins_across_pid_namespaces),
		test_case(test_without_cap_bpf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
