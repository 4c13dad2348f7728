/* SPDX-License-Identifier: MIT */
/* What the tests of the service thread (test_service.c) and of fork()
 * (test_fork.c) share: writers served by the thread, readers in processes
 * driven through pipes, publishing and reading self-verifying payloads.
 * Included after cmocka.h. */
#ifndef MMSYNC_TEST_SERVICE_H
#define MMSYNC_TEST_SERVICE_H

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
static inline int hear_within(int fd, int ms)
{
	char c;
	if (!fd_ready(fd, ms))
		return -1;
	return read(fd, &c, 1) == 1 ? c : -1;
}

static inline int hear(int fd)
{
	return hear_within(fd, STEP_MS);
}

static inline void sock_name(char *buf, size_t n, const char *what)
{
	static int k;
	snprintf(buf, n, "@mmsync-svc-%d-%s-%d", (int)getpid(), what, k++);
}

static inline struct mmsync_writer *writer_new(const char *name, uint64_t capacity, unsigned flags,
					void (*log)(void *, const char *), void *log_ctx)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity, .flags = flags, .log = log,
		    .log_ctx = log_ctx);
	assert_int_equal(mmsync_writer_create(&w, uniq(name), &o), 0);
	return w;
}

static inline int listen_serving(struct mmsync_writer *w, const char *sock)
{
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	return mmsync_writer_listen(w, sock, &lo);
}

/* The log of the writers serving(), from both of their threads: readers
 * revoked. A reader the test does not make fail is never revoked; one whose
 * slot's lock a forked child inherited would be, when it left. */
static atomic_int revoked;

static inline void count_revoked(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "writer: %s\n", msg);
	if (strstr(msg, "revoked"))
		atomic_fetch_add(&revoked, 1);
}

/* A writer served by its thread, with a memfd header (no BPF pins). */
static inline struct mmsync_writer *serving(const char *name, const char *sock, uint64_t capacity)
{
	struct mmsync_writer *w = writer_new(name, capacity, MMSYNC_BPF_OFF, count_revoked, NULL);
	assert_int_equal(listen_serving(w, sock), 0);
	return w;
}

static inline int publish(struct mmsync_writer *w, size_t len, uint64_t seq, uint64_t grace_ns,
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
static inline int read_is(struct mmsync_reader *r, uint64_t seq, size_t len)
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
static inline int read_until(struct mmsync_reader *r, uint64_t seq, size_t len)
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
static inline struct mmsync_reader *table_reader(struct mmsync_writer *w)
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
 * and @taken_back slots taken back from readers that left, closed
 * (disconnects) or died (reclaimed): the service thread refreshes them.
 * Return: whether they did within STEP_MS; *st holds the last read. */
static inline bool figures_reach(struct mmsync_reader *r, uint32_t live, uint64_t taken_back,
			  struct mmsync_stat *st)
{
	uint64_t until = now_ns() + STEP_MS * 1000000ull;
	do {
		*st = (struct mmsync_stat){ .sz = sizeof(*st) };
		if (mmsync_reader_stat(r, st))
			return false;
		if (st->live_slots == live && st->reclaimed + st->disconnects == taken_back)
			return true;
		sleep_ns(5000000);
	} while (now_ns() < until);
	return false;
}


/* Threads of this process named @comm. */
static inline int count_threads(const char *comm)
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

/* The system call a task is blocked in, as /proc/.../syscall (@path) says;
 * -1 when it runs or cannot be read. */
static inline long current_syscall(const char *path)
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

#endif
