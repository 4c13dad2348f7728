/* SPDX-License-Identifier: MIT */
/* What the native tests share: the writer serving in the test process (or a
 * child) while forked readers connect, each read checked against the
 * self-verifying payloads of harness.h. Included after cmocka.h and harness.h. */
#ifndef MMSYNC_TEST_NATIVE_H
#define MMSYNC_TEST_NATIVE_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#include "fdpass.h"
#include "mmsync.h"
#include "native_layout.h"

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

static inline void sock_name(char *buf, size_t n, const char *what)
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
static inline int checked_read(struct mmsync_reader *r, struct reader_result *res,
			       uint64_t *last_seq)
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

/* Serves readers until child @pid exits. Return: its status as wait_child(),
 * or -1 when it was still running after TEST_DEADLINE_S (then killed). */
static inline int dispatch_until_exit(struct mmsync_writer *w, pid_t pid)
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
static inline int exited(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, WNOHANG) != pid)
		return -1;
	test_child_forget(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Serves readers until a child's word arrives on @fd (the caller closed
 * its copy of the write end, so a child that dies ends the wait too). */
static inline void dispatch_until_word(struct mmsync_writer *w, int fd, const char *what)
{
	uint64_t until = test_deadline();
	while (!fd_ready(fd, 5)) {
		if (now_ns() > until)
			fail_msg("no word from %s in %d s", what, TEST_DEADLINE_S);
		mmsync_writer_dispatch(w);
	}
	read_byte(fd, what);
}

static inline struct mmsync_writer *serve(const char *name, const char *sock, uint64_t capacity,
					  unsigned flags)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity, .flags = flags);
	assert_int_equal(mmsync_writer_create(&w, uniq(name), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	return w;
}

static inline void print_reader(int i, const struct reader_result *res)
{
	print_message("reader %d: %lu reads, %lu torn, %lu backwards, %lu stale, %lu errors (%s)\n", i,
		      (unsigned long)res->reads, (unsigned long)res->torn,
		      (unsigned long)res->backwards, (unsigned long)res->stale,
		      (unsigned long)res->errors, mmsync_strerror(res->last_error));
}

#endif
