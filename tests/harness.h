/* SPDX-License-Identifier: MIT */
/* What the tests share: temporary prefixes, strict skips, and payloads that
 * make a torn read detectable. Included after cmocka.h. */
#ifndef MMSYNC_TEST_HARNESS_H
#define MMSYNC_TEST_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* Waits for @pid; returns its exit status, or 128 + signal. */
static inline int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
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

#endif
