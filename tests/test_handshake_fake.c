/* SPDX-License-Identifier: MIT */
/* The native handshake from the reader's end: the test plays a hostile
 * writer on an abstract socket and sends one crafted message; each refusal
 * is due to the one thing changed from a good, hand-built handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "hash.h"
#include "handshake_test.h"

/* ---- a fake server ---- */

enum fake_action { FAKE_SEND, FAKE_CLOSE, FAKE_HOLD, FAKE_NONE };

/* Runs in the child: one connect, then whether it leaked. Return: 0 on
 * success (and, with @expect_seq, a read of that version), the errno it
 * failed with, or a CHILD_* status. */
static int connect_child(const char *name, unsigned timeout_ms, uint64_t expect_seq)
{
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM, .timeout_ms = timeout_ms);
	struct mmsync_reader *r = (void *)1;
	int fds0 = count_fds(), maps0 = count_shm_maps();
	int err = mmsync_reader_connect(&r, name, &ro);
	int status = -err;

	if (err && r != NULL)
		return CHILD_BAD_HANDLE;
	if (!err) {
		if (!r)
			return CHILD_BAD_HANDLE;
		struct mmsync_stat st = { .sz = sizeof(st) };
		if (mmsync_reader_stat(r, &st) || !st.native || st.max_readers != HS_MAX_READERS ||
		    st.generation != 1 || st.seq != HS_SEQ)
			status = CHILD_BAD_READ;
		if (expect_seq && read_expect(r, expect_seq))
			status = CHILD_BAD_READ;
		mmsync_reader_close(r);
	}
	if (count_fds() != fds0)
		return CHILD_FD_LEAK;
	if (count_shm_maps() != maps0)
		return CHILD_MAP_LEAK;
	return status;
}

/* sendmsg with any number of descriptors (fdpass_send takes 8 at most). */
static int send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 32);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/*
 * One connect against a fake server: listen on a fresh abstract name, fork
 * a child that connects, accept, then send @buf with @fds (FAKE_SEND), close
 * at once (FAKE_CLOSE), or say nothing (FAKE_HOLD); FAKE_NONE listens on
 * nothing at all. The connection stays open until the child is done.
 * Return: the child's exit status (see connect_child()).
 */
static int fake_round_seq(enum fake_action act, const void *buf, size_t len, const int *fds,
			  unsigned nfds, unsigned timeout_ms, uint64_t expect_seq)
{
	char name[64];
	struct sockaddr_un sa;
	socklen_t salen;
	int lfd = -1, conn = -1;

	sock_name(name, sizeof(name));
	if (act != FAKE_NONE) {
		assert_int_equal(fdpass_addr(name, &sa, &salen), 0);
		lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		assert_true(lfd >= 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sa, salen), 0);
		assert_int_equal(listen(lfd, 8), 0);
	}
	fflush(NULL);
	pid_t pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(connect_child(name, timeout_ms, expect_seq));
	if (act != FAKE_NONE) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 10000), 1);
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(conn >= 0);
	}
	if (act == FAKE_SEND)
		assert_int_equal(nfds <= FDPASS_MAX_FDS ? fdpass_send(conn, buf, len, fds, nfds)
							: send_raw(conn, buf, len, fds, nfds), 0);
	if (act == FAKE_CLOSE) {
		close(conn);
		conn = -1;
	}
	int status = dispatch_wait(NULL, pid, 20000);
	if (conn >= 0)
		close(conn);
	if (lfd >= 0)
		close(lfd);
	return status;
}

static int fake_round(enum fake_action act, const void *buf, size_t len, const int *fds,
		      unsigned nfds)
{
	return fake_round_seq(act, buf, len, fds, nfds, 1000, 0);
}

/* The hand-built message and descriptors, with copy @which replaced by @fd. */
static int fake_with_copy(const struct hs *s, int which, int fd)
{
	int fds[4];
	hs_fds(s, fds);
	fds[1 + which] = fd;
	return fake_round(FAKE_SEND, &s->m, sizeof(s->m), fds, 4);
}

/* ---- 0. a hostile writer: what it cannot do, and what it cannot make a
 * reader do (crash, read past its mappings) ---- */

static void test_hostile_writer(void **unused)
{
	(void)unused;
	struct hs s;
	struct mmsync_reader *r;
	struct mmsync_view v;
	int fds[MMSYNC_NR_FDS];

	hs_make(&s);
	hs_fds(&s, fds);
	fds[MMSYNC_FD_SLOTS] = object_ro(4096, NATIVE_SEALS_SIZE, O_RDWR); /* the slot table */
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);

	/* Its own copies are sealed against it too: no shrinking, no growing. */
	assert_int_equal(ftruncate(s.copy_rw[0], 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(s.copy_rw[0], (off_t)s.capacity * 2), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fallocate(s.copy_rw[1], 0, 0, (off_t)s.capacity * 2), -1);
	assert_int_equal(errno, EPERM);

	/* A version beyond the capacity, or naming the other copy: refused
	 * before any access; nothing held after the refusal. */
	struct native_copy_desc good = s.h->copy[1];
	uint64_t sizes[] = { s.capacity + 1, MMSYNC_MAX_PAYLOAD, 1ull << 38 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		s.h->copy[1].version = 1 | sizes[i] << 1;
		assert_int_equal(mmsync_read_begin(r, &v), -EBADMSG);
	}
	s.h->copy[1].version = 0 | (uint64_t)64 << 1; /* idx 0 in copy 1's descriptor */
	assert_int_equal(mmsync_read_begin(r, &v), -EBADMSG);
	s.h->copy[1] = good;
	atomic_store(&s.h->li, 0xfffffff1u); /* only its low bit is used */
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	atomic_store(&s.h->li, 1);

	/* A generation whose descriptors never come: a reader made from
	 * descriptors is told they are stale... */
	s.h->copy[1].generation = 2;
	assert_int_equal(mmsync_read_begin(r, &v), -ESTALE);
	mmsync_reader_close(r);
	/* ... and a connected one gets an error, not a hang or a crash. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ),
			 CHILD_BAD_READ);
	close(fds[MMSYNC_FD_SLOTS]);
	hs_free(&s);
}

/* ---- 1. a hostile writer: what the reader refuses ---- */

static void test_fake_good(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];

	hs_make(&s);
	hs_fds(&s, fds);
	/* Accepted, and the version published by hand reads back whole. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ), 0);
	/* Twice: the same descriptors serve any number of connects. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ), 0);
	hs_free(&s);
}

static void test_fake_garbage(void **unused)
{
	(void)unused;
	uint8_t junk[17];
	uint64_t magic = NATIVE_MAGIC;
	unsigned seed = 17;
	struct hs s;
	int fds[4];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand_r(&seed);
	assert_true(memcmp(junk, &magic, sizeof(magic)) != 0);
	assert_int_equal(fake_round(FAKE_SEND, junk, sizeof(junk), NULL, 0), EPROTO);
	/* The same with descriptors attached: refused, and none left open. */
	hs_make(&s);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, junk, sizeof(junk), fds, 4), EPROTO);
	/* A single byte, and an empty message (which reads as end of stream:
	 * the writer hung up without a word). */
	assert_int_equal(fake_round(FAKE_SEND, junk, 1, NULL, 0), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, junk, 0, fds, 4), ECONNREFUSED);
	hs_free(&s);
}

/*
 * A message cut short. 12 bytes carry the magic and proto_version but not
 * layout_version: the reader cannot tell which layout the sender speaks, so
 * it is "not ours, or another version": -EPROTO (native_msg_check() wants
 * at least magic and both versions, offsetof(type) = 16 bytes, before it
 * trusts anything). From 16 bytes on, the sender has proved to be an mmsync
 * writer of this version, and a wrong length is an inconsistent message:
 * -EBADMSG. A longer message than struct native_msg is cut by recvmsg
 * (MSG_TRUNC): -EBADMSG too.
 */
static void test_fake_short(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	uint8_t big[sizeof(struct native_msg) + 8];

	hs_make(&s);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 12, NULL, 0), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 12, fds, 4), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 16, fds, 4), EBADMSG);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m) - 1, fds, 4), EBADMSG);
	memset(big, 0, sizeof(big));
	memcpy(big, &s.m, sizeof(s.m));
	assert_int_equal(fake_round(FAKE_SEND, big, sizeof(big), fds, 4), EBADMSG);
	hs_free(&s);
}

static void test_fake_versions(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.magic ^= 1;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	m = s.m;
	m.proto_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	m = s.m;
	m.layout_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	/* The header itself says another layout or is not ours. */
	s.h->magic ^= 1;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EPROTO);
	s.h->magic ^= 1;
	s.h->layout_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EPROTO);
	s.h->layout_version = NATIVE_LAYOUT_VERSION;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), 0);
	hs_free(&s);
}

/* Fields out of range, or message and header that disagree. */
static void test_fake_inconsistent(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.type = NATIVE_MSG_GENERATION;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.capacity = 0;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.capacity = s.capacity * 2; /* the copies are smaller than it says */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.max_readers = 0;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.max_readers = HS_MAX_READERS + 1; /* the header says 4 */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.slot_index = HS_MAX_READERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	memset(m.name, 'x', sizeof(m.name)); /* not terminated */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.generation = 2; /* newer than the header's */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	s.h->header_size = 8;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	s.h->header_size = sizeof(*s.h);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), 0);
	hs_free(&s);
}

static void test_fake_fd_count(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[12];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	/* The message says 4, three come. */
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 3), EBADMSG);
	/* The message says 3 and three come: still not a handshake. */
	m = s.m;
	m.nr_fds = 3;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 3), EBADMSG);
	/* None. */
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), NULL, 0), EBADMSG);
	/* Five, and twelve (more than fdpass_recv's buffer holds: MSG_CTRUNC). */
	for (int i = 4; i < 12; i++)
		fds[i] = s.copy_ro[i & 1];
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 5), EBADMSG);
	m = s.m;
	m.nr_fds = 5;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 5), EBADMSG);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 12), EBADMSG);
	hs_free(&s);
}

static void test_fake_copy_pipe(void **unused)
{
	(void)unused;
	struct hs s;
	int p[2];

	hs_make(&s);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fake_with_copy(&s, 0, p[0]), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, p[0]), EBADMSG);
	close(p[0]);
	close(p[1]);
	hs_free(&s);
}

/* A regular tmpfs file of the right size, read-only: it carries no seal
 * but F_SEAL_SEAL, so whoever holds it can truncate it under the reader. */
static void test_fake_copy_shm_file(void **unused)
{
	(void)unused;
	struct hs s;
	char path[] = "/dev/shm/mmsync-hs-XXXXXX";

	hs_make(&s);
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ftruncate(fd, (off_t)s.capacity), 0);
	int ro = reopen(fd, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, ro), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, ro), EBADMSG);
	close(ro);
	close(fd);
	hs_free(&s);
}

static void test_fake_copy_unsealed(void **unused)
{
	(void)unused;
	struct hs s;

	hs_make(&s);
	int none = object_ro(s.capacity, 0, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, none), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, none), EBADMSG);
	/* Sealed against resizing but not against writes by other holders. */
	int size_only = object_ro(s.capacity, NATIVE_SEALS_SIZE, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, size_only), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, size_only), EBADMSG);
	/* And F_SEAL_SEAL missing: the seals could still be changed. */
	int no_seal_seal = object_ro(s.capacity, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE,
				     O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, no_seal_seal), EBADMSG);
	/* The writer says hugetlbfs (NATIVE_FLAG_UNSEALED), the copies are not. */
	int fds[4];
	struct native_msg m = s.m;
	m.flags = NATIVE_FLAG_UNSEALED;
	hs_fds(&s, fds);
	fds[1] = fds[2] = none;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	close(none);
	close(size_only);
	close(no_seal_seal);
	hs_free(&s);
}

static void test_fake_copy_writable(void **unused)
{
	(void)unused;
	struct hs s;

	hs_make(&s);
	int rw = object_ro(s.capacity, NATIVE_SEALS_COPY, O_RDWR);
	assert_int_equal(fake_with_copy(&s, 0, rw), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, rw), EBADMSG);
	/* The state too. */
	int fds[4];
	hs_fds(&s, fds);
	fds[0] = reopen(s.state_rw, O_RDWR);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	close(fds[0]);
	close(rw);
	hs_free(&s);
}

static void test_fake_copy_wrong_size(void **unused)
{
	(void)unused;
	struct hs s;
	long page = sysconf(_SC_PAGESIZE);

	hs_make(&s);
	int big = object_ro(s.capacity + (uint64_t)page, NATIVE_SEALS_COPY, O_RDONLY);
	int small = object_ro(s.capacity - (uint64_t)page, NATIVE_SEALS_COPY, O_RDONLY);
	int empty = object_ro(0, NATIVE_SEALS_COPY, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, big), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, big), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 0, small), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, small), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, empty), EBADMSG);
	close(big);
	close(small);
	close(empty);
	hs_free(&s);
}

/* The reader's own slot object: writable, one page, sealed against resizing. */
static void test_fake_bad_slot(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	long page = sysconf(_SC_PAGESIZE);

	hs_make(&s);
	hs_fds(&s, fds);
	int objs[4] = {
		object_ro((uint64_t)page, NATIVE_SEALS_SIZE, O_RDONLY),	/* read-only */
		object_ro((uint64_t)page, 0, O_RDWR),			/* resizable */
		object_ro(2 * (uint64_t)page, NATIVE_SEALS_SIZE, O_RDWR),	/* two pages */
		s.copy_ro[0],						/* a copy */
	};
	for (int i = 0; i < 4; i++) {
		fds[3] = objs[i];
		assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	}
	for (int i = 0; i < 3; i++)
		close(objs[i]);
	hs_free(&s);
}

/* A refusal: error set, no descriptor; the reader reports the writer's errno. */
static void test_fake_refusal(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.nr_fds = 0;
	m.error = EUSERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EUSERS);
	/* Descriptors sent along with a refusal are closed, not kept. */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EUSERS);
	/* EACCES (not in the allow-list) reads as "refused". */
	m.error = EACCES;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), ECONNREFUSED);
	/* No errno: inconsistent. */
	m.error = 5000;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EBADMSG);
	m.error = -EUSERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EBADMSG);
	hs_free(&s);
}

static void test_fake_close(void **unused)
{
	(void)unused;
	assert_int_equal(fake_round(FAKE_CLOSE, NULL, 0, NULL, 0), ECONNREFUSED);
}

static void test_fake_silent(void **unused)
{
	(void)unused;
	uint64_t t0 = now_ms();
	assert_int_equal(fake_round_seq(FAKE_HOLD, NULL, 0, NULL, 0, 200, 0), ETIMEDOUT);
	uint64_t dt = now_ms() - t0;
	assert_true(dt >= 190);
	assert_true(dt < 5000);
}

static void test_no_server(void **unused)
{
	(void)unused;
	assert_int_equal(fake_round(FAKE_NONE, NULL, 0, NULL, 0), ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_fake_good),
		test_case(test_hostile_writer),
		test_case(test_fake_garbage),
		test_case(test_fake_short),
		test_case(test_fake_versions),
		test_case(test_fake_inconsistent),
		test_case(test_fake_fd_count),
		test_case(test_fake_copy_pipe),
		test_case(test_fake_copy_shm_file),
		test_case(test_fake_copy_unsealed),
		test_case(test_fake_copy_writable),
		test_case(test_fake_copy_wrong_size),
		test_case(test_fake_bad_slot),
		test_case(test_fake_refusal),
		test_case(test_fake_close),
		test_case(test_fake_silent),
		test_case(test_no_server),
	};
	signal(SIGPIPE, SIG_IGN);
	return test_run(tests);
}
