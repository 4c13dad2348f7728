/* SPDX-License-Identifier: MIT */
/* What the tests share: temporary prefixes, strict skips, and payloads that
 * make a torn read detectable. Included after cmocka.h. */
#ifndef MMSYNC_TEST_HARNESS_H
#define MMSYNC_TEST_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/types.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* A test that cannot run here skips, unless MMSYNC_TEST_STRICT=1 (CI): then
 * a skip is a failure. */
#define test_skip_or_fail(reason)                                          \
	do {                                                               \
		const char *s_ = getenv("MMSYNC_TEST_STRICT");             \
		if (s_ && !strcmp(s_, "1"))                                \
			fail_msg("cannot run (strict mode): %s", reason);  \
		print_message("skipped: %s\n", reason);                    \
		skip();                                                    \
	} while (0)

/* A fresh directory under /dev/shm and a prefix inside it. */
struct tmp_prefix {
	char dir[64];
	char prefix[128];
};

static inline void tmp_prefix_make(struct tmp_prefix *t, const char *name)
{
	snprintf(t->dir, sizeof(t->dir), "/dev/shm/mmsync-test-XXXXXX");
	if (!mkdtemp(t->dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(t->prefix, sizeof(t->prefix), "%s/%s", t->dir, name);
}

static inline void tmp_prefix_remove(struct tmp_prefix *t)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
}

static inline void file_path(char *buf, size_t n, const char *prefix, const char *suffix)
{
	snprintf(buf, n, "%s%s", prefix, suffix);
}

/*
 * Self-verifying payloads. Every 8-byte word k holds seq ^ (k * K), the
 * bytes of a last partial word likewise, and payloads of 16 bytes or more end
 * in an XXH64 of everything before the trailer. A mix of two versions, a
 * stale tail, or a length that does not match its bytes fails the check.
 * Payloads shorter than 8 bytes carry the low bytes of seq only.
 */
#define PAYLOAD_K 0x9e3779b97f4a7c15ull

static inline void payload_fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t body = len >= 16 ? len - 8 : len;
	for (size_t i = 0; i < body; i += 8) {
		uint64_t word = seq ^ ((i / 8 + len) * PAYLOAD_K);
		size_t n = body - i < 8 ? body - i : 8;
		memcpy(p + i, &word, n);
	}
	if (len >= 16) {
		uint64_t h = XXH64(p, body, 0);
		memcpy(p + body, &h, 8);
	}
}

/* Return: true when @p is exactly what payload_fill(@len, seq) wrote for
 * the seq read from its first word; *seq_out receives it. */
static inline bool payload_check(const uint8_t *p, size_t len, uint64_t *seq_out)
{
	size_t body = len >= 16 ? len - 8 : len;
	uint64_t first = 0, seq;

	if (len == 0) {
		*seq_out = 0;
		return true;
	}
	memcpy(&first, p, body < 8 ? body : 8);
	seq = first ^ (len * PAYLOAD_K);
	if (body < 8)
		seq &= (1ull << (8 * body)) - 1;
	for (size_t i = 0; i < body; i += 8) {
		uint64_t word = seq ^ ((i / 8 + len) * PAYLOAD_K);
		size_t n = body - i < 8 ? body - i : 8;
		if (memcmp(p + i, &word, n))
			return false;
	}
	if (len >= 16) {
		uint64_t h = XXH64(p, body, 0), t;
		memcpy(&t, p + body, 8);
		if (h != t)
			return false;
	}
	*seq_out = seq;
	return true;
}

/* A segment name of this test process: runs side by side (a plain and a
 * sanitizer build, two checkouts) must not take each other's BPF pins. */
static inline const char *uniq(const char *base)
{
	static char names[8][64];
	static unsigned k;
	char *n = names[k++ % 8];
	snprintf(n, 64, "%s-%d", base, (int)getpid());
	return n;
}

/* Memory forked children and their parent share: counters a parent can
 * read even after a child was killed. */
static inline void *shared_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		abort();
	}
	return p;
}

/* Length of the timed runs: MMSYNC_TEST_SECONDS, default 3. */
static inline double test_seconds(void)
{
	const char *s = getenv("MMSYNC_TEST_SECONDS");
	double d = s ? atof(s) : 3.0;
	return d > 0 ? d : 3.0;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Waiting on other processes, correct on a loaded machine and quick to fail.
 *
 * Whatever a test waits for from another process (a byte on a pipe, a
 * child's exit, a count in shared memory) it waits for until it happens or
 * TEST_DEADLINE_S pass: never a fixed sleep that a busy scheduler can
 * outlast, never forever. Children are made with test_fork(): they die
 * with their parent (PR_SET_PDEATHSIG), and the teardown of each test
 * (test_case()) kills and reaps those still there, so that a failed
 * assertion in the parent (cmocka jumps out of the test) leaves no child
 * running, holding meson's pipe.
 */
#define TEST_DEADLINE_S 60

static inline uint64_t test_deadline(void)
{
	return now_ns() + TEST_DEADLINE_S * 1000000000ull;
}

#define TEST_CHILDREN_MAX 64
static pid_t test_children_[TEST_CHILDREN_MAX];

static inline void test_child_forget(pid_t pid)
{
	for (int i = 0; i < TEST_CHILDREN_MAX; i++)
		if (test_children_[i] == pid)
			test_children_[i] = 0;
}

/* fork(); the child dies with this process (or thread), and is killed at
 * the end of the test if still there. */
static inline pid_t test_fork(void)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		memset(test_children_, 0, sizeof(test_children_)); /* its parent's, not its own */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(126);
		return 0;
	}
	for (int i = 0; i < TEST_CHILDREN_MAX; i++)
		if (!test_children_[i]) {
			test_children_[i] = pid;
			break;
		}
	return pid;
}

/* A test's teardown: kills and reaps the children it left (none, when it
 * passed). */
static inline int test_children_kill(void **state)
{
	(void)state;
	for (int i = 0; i < TEST_CHILDREN_MAX; i++) {
		pid_t pid = test_children_[i];
		if (!pid)
			continue;
		test_children_[i] = 0;
		/* Only a child not yet reaped: never a pid the system reused. */
		if (waitpid(pid, NULL, WNOHANG) != 0)
			continue;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return 0;
}

/* What main() lists: a test whose children go with it. */
#define test_case(f) cmocka_unit_test_teardown(f, test_children_kill)

/* What main() returns: the run of its array @tests, or of those whose names
 * match MMSYNC_TEST_FILTER (a cmocka pattern) when it is set. */
#define test_run(tests)                                                           \
	(getenv("MMSYNC_TEST_FILTER")                                             \
		 ? cmocka_set_test_filter(getenv("MMSYNC_TEST_FILTER"))           \
		 : (void)0,                                                       \
	 cmocka_run_group_tests(tests, NULL, NULL))

/* Waits for @pid for up to TEST_DEADLINE_S; returns its exit status, or
 * 128 + signal, or -1 if it had to be killed (a hang: the caller's
 * assertion on the status fails). */
static inline int wait_child(pid_t pid)
{
	int status;
	uint64_t until = test_deadline(), nap = 50000;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now_ns() > until) {
			print_message("child %d still running after %d s: killed\n", (int)pid,
				      TEST_DEADLINE_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_child_forget(pid);
			return -1;
		}
		sleep_ns(nap);
		nap = nap < 5000000 ? nap * 2 : nap;
	}
	if (r < 0 && errno != EINTR)
		return -1;
	if (r < 0)
		return wait_child(pid);
	test_child_forget(pid);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Waits up to @ms for @fd to be readable or hung up. */
static inline bool fd_ready(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int n;
	while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return n > 0;
}

/* Reads the byte a child sends on a pipe, within TEST_DEADLINE_S; fails
 * the test if the pipe closes first (the child died) or the time is up.
 * The caller has closed its own copy of the pipe's write end. */
static inline void read_byte(int fd, const char *what)
{
	char c;
	if (!fd_ready(fd, TEST_DEADLINE_S * 1000))
		fail_msg("no word from %s in %d s", what, TEST_DEADLINE_S);
	if (read(fd, &c, 1) != 1)
		fail_msg("%s closed its pipe without a word (it died)", what);
}

/*
 * Time a thread spent waiting for a CPU while runnable: the scheduler's
 * share of a wall-clock interval (the second field of
 * /proc/thread-self/schedstat). A bound on how long the library takes is
 * asserted on the wall-clock time less this, so that it holds on a loaded
 * machine: the library answers for its own work and sleeps, not for the
 * time other processes had the CPU.
 */
static inline uint64_t run_delay_ns(void)
{
	static __thread int fd = -1;
	static __thread pid_t owner;
	char buf[128];
	unsigned long long on_cpu, delay;

	if (fd < 0 || owner != getpid()) { /* a forked child opens its own */
		if (fd >= 0)
			close(fd);
		fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
		owner = getpid();
		if (fd < 0) {
			perror("/proc/thread-self/schedstat");
			abort();
		}
	}
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		perror("/proc/thread-self/schedstat");
		abort();
	}
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &on_cpu, &delay) != 2)
		abort();
	return delay;
}

struct span {
	uint64_t wall, delay;
};

static inline struct span span_start(void)
{
	return (struct span){ now_ns(), run_delay_ns() };
}

/* Wall-clock time since @s less the time this thread waited for a CPU. */
static inline uint64_t span_ns(struct span s)
{
	uint64_t wall = now_ns() - s.wall, delay = run_delay_ns() - s.delay;
	return delay < wall ? wall - delay : 0;
}

/*
 * A timed run: test_seconds(), then on until @enough(@arg) holds (the
 * counts a test asserts may take longer on a loaded machine), for at most
 * TEST_DEADLINE_S more. Return: whether it held; the caller's assertions
 * on the counts say what was missing.
 */
static inline bool run_until(bool (*enough)(void *), void *arg)
{
	sleep_ns((uint64_t)(test_seconds() * 1e9));
	uint64_t t0 = now_ns(), until = test_deadline();
	while (!enough(arg)) {
		if (now_ns() > until)
			return false;
		sleep_ns(10000000);
	}
	if (now_ns() - t0 > 100000000)
		print_message("(the run took %.1f s more to reach its counts)\n", (double)(now_ns() - t0) / 1e9);
	return true;
}

/* Open descriptors of this process (ls /proc/self/fd | wc -l, less the
 * directory's own); without /proc, a scan of the first 4096. */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d) {
		for (int fd = 0; fd < 4096; fd++)
			if (fcntl(fd, F_GETFD) != -1)
				n++;
		return n;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Makes seccomp forbid this process membarrier(2) (EPERM): a reader can
 * then only read fenced, and a writer cannot serve fenceless readers. */
static inline int forbid_membarrier(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Children driven step by step through two pipes: spawn() forks (0 in the
 * child, which keeps cmd[0] and ack[1]), say() writes one byte. */

struct link {
	int cmd[2]; /* test -> child */
	int ack[2]; /* child -> test */
};

static inline pid_t spawn(struct link *l)
{
	assert_int_equal(pipe(l->cmd), 0);
	assert_int_equal(pipe(l->ack), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		close(l->cmd[1]);
		close(l->ack[0]);
		return 0;
	}
	close(l->cmd[0]);
	close(l->ack[1]);
	return pid;
}

static inline void link_close(struct link *l)
{
	close(l->cmd[1]);
	close(l->ack[0]);
}

static inline void say(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(90); /* the other side is gone */
}

/* A reader's connection to its writer: the one connected socket of this
 * process (a listening socket that came with a fork is not connected). */
static inline int own_socket(void)
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

#endif
