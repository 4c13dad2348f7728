/* SPDX-License-Identifier: MIT */
/* What a real native writer hands out, over its socket or exported: state,
 * copies and slots that no holder can write, resize or reseal, and what
 * mmsync_reader_from_fds() refuses; a failed listen can be retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

/* ---- what a real writer hands out cannot be written or resized ---- */

/* A header or copy: read-only, sealed, and nothing a holder does changes
 * its size, its seals or its bytes. */
static void check_sealed_ro(int fd, uint64_t size)
{
	struct stat st;
	void *p;

	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, size);
	assert_int_equal(fcntl(fd, F_GET_SEALS), NATIVE_SEALS_COPY);
	assert_int_equal(NATIVE_SEALS_COPY,
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | F_SEAL_FUTURE_WRITE);

	uint8_t *ro = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(ro != MAP_FAILED);
	uint8_t *before = malloc(size);
	assert_non_null(before);
	memcpy(before, ro, size);

	errno = 0;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p == MAP_FAILED);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(mprotect(ro, size, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(mprotect(ro, size, PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)size * 2), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(fallocate(fd, 0, 0, (off_t)size * 2), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);

	/* A description of its own through /proc: root may open it
	 * read-write, and then the seals alone must hold. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		errno = 0;
		assert_int_equal(write(rw, "x", 1), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(pwrite(rw, "x", 1, 0), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
		assert_true(p == MAP_FAILED);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(ftruncate(rw, 0), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(ftruncate(rw, (off_t)size * 2), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fallocate(rw, 0, 0, (off_t)size * 2), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fallocate(rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
					   (off_t)size), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fcntl(rw, F_ADD_SEALS, F_SEAL_WRITE), -1);
		assert_int_equal(errno, EPERM);
		close(rw);
	} else {
		assert_int_equal(errno, EACCES);
	}

	assert_int_equal(fcntl(fd, F_GET_SEALS), NATIVE_SEALS_COPY);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_memory_equal(ro, before, size);
	free(before);
	munmap(ro, size);
}

/* A slot object or the slot table: writable, but of a fixed size. */
static void check_slots(int fd, uint64_t size)
{
	struct stat st;

	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, size);
	assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	munmap(p, size);
	errno = 0;
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)size * 2), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(fallocate(fd, 0, 0, (off_t)size * 2), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
}

/* A reader from @fds reads version @seq. */
static void check_reads(const int fds[MMSYNC_NR_FDS], uint64_t seq)
{
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	assert_int_equal(read_expect(r, seq), 0);
	mmsync_reader_close(r);
}

static void test_writer_socket_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct mmsync_stat st = { .sz = sizeof(st) };
	long page = sysconf(_SC_PAGESIZE);

	struct mmsync_writer *w = writer_new("hs-socket-fds", 4, &log);
	writer_listen(w, name, sizeof(name), NULL, 0);
	publish(w, 1);

	struct native_msg m;
	long len;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds;
	int c = raw_hello(w, name, &m, &len, fds, &nfds);
	assert_int_equal(len, sizeof(m));
	assert_int_equal(nfds, 4);
	assert_int_equal(native_msg_check(&m, sizeof(m), NATIVE_MSG_HELLO, nfds), 0);
	assert_int_equal(m.error, 0);
	assert_int_equal(m.max_readers, 4);

	check_sealed_ro(fds[0], NATIVE_STATE_SIZE);
	check_sealed_ro(fds[1], m.capacity);
	check_sealed_ro(fds[2], m.capacity);
	check_slots(fds[3], (uint64_t)page);

	/* The writer goes on: what was received still reads, and so do the
	 * next versions. */
	int ex[MMSYNC_NR_FDS];
	assert_int_equal(mmsync_writer_export_fds(w, ex), 0);
	check_reads(ex, 1);
	publish(w, 2);
	check_reads(ex, 2);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_from_fds(&r, ex, NULL), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.live_slots, 1); /* the raw client */
	mmsync_reader_close(r);
	for (int i = 0; i < 4; i++) {
		close(fds[i]);
		close(ex[i]);
	}
	close(c);
	assert_int_equal(log.refused + log.dropped + log.other, 0);
	mmsync_writer_close(w);
}

static void test_writer_export_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	int fds[MMSYNC_NR_FDS];
	long page = sysconf(_SC_PAGESIZE);
	struct mmsync_writer *w = writer_new("hs-export-fds", 100, &log);

	publish(w, 1);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
	check_sealed_ro(fds[MMSYNC_FD_STATE], NATIVE_STATE_SIZE);
	check_sealed_ro(fds[MMSYNC_FD_COPY0], 64 << 10);
	check_sealed_ro(fds[MMSYNC_FD_COPY1], 64 << 10);
	/* 100 slots of 64 bytes, rounded up to the page. */
	uint64_t table = (100 * sizeof(struct native_slot) + (uint64_t)page - 1) / (uint64_t)page *
			 (uint64_t)page;
	check_slots(fds[MMSYNC_FD_SLOTS], table);
	check_reads(fds, 1);
	publish(w, 2);
	check_reads(fds, 2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* A listen that failed (the name is taken) leaves the writer able to
 * listen elsewhere; a second listen is -EBUSY. */
static void test_listen_retry(void **unused)
{
	(void)unused;
	struct log_count log;
	char busy[64], name[64];
	struct sockaddr_un sa;
	socklen_t salen;
	struct ctl *c = shared_alloc(sizeof(*c));
	struct mmsync_writer *w = writer_new("hs-retry", 4, &log);

	sock_name(busy, sizeof(busy));
	assert_int_equal(fdpass_addr(busy, &sa, &salen), 0);
	int squatter = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(squatter >= 0);
	assert_int_equal(bind(squatter, (struct sockaddr *)&sa, salen), 0);
	assert_int_equal(listen(squatter, 4), 0);
	/* A failed listen keeps nothing of its options (LeakSanitizer checks). */
	uid_t allow[1] = { 0 };
	MMSYNC_OPTS(mmsync_listen_opts, lo, .allow_uids = allow, .n_allow_uids = 1);
	assert_int_equal(mmsync_writer_listen(w, busy, &lo), -EADDRINUSE);
	assert_int_equal(mmsync_writer_listen(w, busy, NULL), -EADDRINUSE);
	sock_name(name, sizeof(name));
	assert_int_equal(mmsync_writer_listen(w, name, NULL), 0);
	assert_int_equal(mmsync_writer_listen(w, name, NULL), -EBUSY);

	publish(w, 1);
	pid_t pid = spawn_reader(c, name, -1);
	assert_int_equal(reader_connected(w, c), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == 1, 10000));
	assert_int_equal(reader_finish(w, c, pid), 0);
	struct pollfd p = { .fd = squatter, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	close(squatter);
	assert_int_equal(log.refused + log.dropped + log.other, 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
}

/* ---- mmsync_reader_from_fds with bad descriptors ---- */

/* from_fds on @fds: its result, with no descriptor nor mapping left behind. */
static int from_fds_noleak(const int fds[MMSYNC_NR_FDS])
{
	struct mmsync_reader *r = (void *)1;
	int fds0 = count_fds(), maps0 = count_shm_maps();
	int err = mmsync_reader_from_fds(&r, fds, NULL);
	if (err) {
		assert_null(r);
		assert_int_equal(count_fds(), fds0);
		assert_int_equal(count_shm_maps(), maps0);
	} else {
		mmsync_reader_close(r);
	}
	return err;
}

static void test_from_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	int ex[4][MMSYNC_NR_FDS], fds[MMSYNC_NR_FDS], p[2];
	struct mmsync_reader *r[4];
	struct mmsync_writer *w = writer_new("hs-from-fds", 3, &log);

	publish(w, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mmsync_writer_export_fds(w, ex[i]), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* A pipe as the state. */
	memcpy(fds, ex[0], sizeof(fds));
	fds[MMSYNC_FD_STATE] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* A state that is not ours: sealed, read-only, 4096 zero bytes. */
	int zero = object_ro(NATIVE_STATE_SIZE, NATIVE_SEALS_COPY, O_RDONLY);
	fds[MMSYNC_FD_STATE] = zero;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);

	/* A header of this layout in all but the magic. */
	void *hp;
	int not_ours_rw = memfd_sized(NATIVE_STATE_SIZE, 0, &hp);
	struct native_header *nh = hp;
	nh->magic = NATIVE_MAGIC ^ 1;
	nh->layout_version = NATIVE_LAYOUT_VERSION;
	nh->header_size = sizeof(*nh);
	nh->max_readers = 3;
	nh->generation = 1;
	nh->capacity = 64 << 10;
	assert_int_equal(fcntl(not_ours_rw, F_ADD_SEALS, NATIVE_SEALS_COPY), 0);
	int not_ours = reopen(not_ours_rw, O_RDONLY);
	fds[MMSYNC_FD_STATE] = not_ours;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);
	nh->magic = NATIVE_MAGIC; /* the control: now it is ours */
	assert_int_equal(from_fds_noleak(fds), 0);
	nh->layout_version = 99;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);
	munmap(hp, NATIVE_STATE_SIZE);
	close(not_ours_rw);
	close(not_ours);

	/* The state unsealed. */
	int unsealed = object_ro(NATIVE_STATE_SIZE, 0, O_RDONLY);
	fds[MMSYNC_FD_STATE] = unsealed;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* The table read-only, or a pipe. */
	memcpy(fds, ex[0], sizeof(fds));
	int table_ro = reopen(ex[0][MMSYNC_FD_SLOTS], O_RDONLY);
	fds[MMSYNC_FD_SLOTS] = table_ro;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	fds[MMSYNC_FD_SLOTS] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* A copy opened read-write, or not sealed against writes. */
	memcpy(fds, ex[0], sizeof(fds));
	int copy_rw = reopen(ex[0][MMSYNC_FD_COPY1], O_RDWR);
	fds[MMSYNC_FD_COPY1] = copy_rw;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	int copy_size_only = object_ro(64 << 10, NATIVE_SEALS_SIZE, O_RDONLY);
	fds[MMSYNC_FD_COPY1] = copy_size_only;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* Valid: reads what was published. */
	assert_int_equal(from_fds_noleak(ex[0]), 0);
	check_reads(ex[0], 1);

	/* max_readers = 3: three readers from three exports, the fourth
	 * finds no free slot. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mmsync_reader_from_fds(&r[i], ex[i], NULL), 0);
		assert_int_equal(read_expect(r[i], 1), 0);
	}
	r[3] = (void *)1;
	assert_int_equal(mmsync_reader_from_fds(&r[3], ex[3], NULL), -EUSERS);
	assert_null(r[3]);
	assert_int_equal(from_fds_noleak(ex[3]), -EUSERS);
	/* The writer counts them (it probes the table every 100 ms). */
	usleep(150000);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r[0], &st), 0);
	assert_int_equal(st.live_slots, 3);
	assert_int_equal(st.max_readers, 3);
	/* One leaves: its slot is free at once. */
	mmsync_reader_close(r[1]);
	assert_int_equal(mmsync_reader_from_fds(&r[3], ex[3], NULL), 0);
	publish(w, 2);
	assert_int_equal(read_expect(r[3], 2), 0);
	assert_int_equal(read_expect(r[0], 2), 0);
	mmsync_reader_close(r[0]);
	mmsync_reader_close(r[2]);
	mmsync_reader_close(r[3]);

	close(zero);
	close(unsealed);
	close(table_ro);
	close(copy_rw);
	close(copy_size_only);
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < MMSYNC_NR_FDS; k++)
			close(ex[i][k]);
	mmsync_writer_close(w);
}

/*
 * Copies that are not the header's size: descriptors exported before a new
 * generation are stale (-ESTALE), by design. But a pipe (or any descriptor
 * of the wrong type) as a copy is -EBADMSG, as everywhere else: the type is
 * checked before the size is compared with the header's capacity.
 */
static void test_from_fds_stale(void **unused)
{
	(void)unused;
	struct log_count log;
	int ex[MMSYNC_NR_FDS], fresh[MMSYNC_NR_FDS], fds[MMSYNC_NR_FDS], p[2];
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_writer *w = writer_new("hs-from-fds-stale", 3, &log);

	publish(w, 1);
	assert_int_equal(mmsync_writer_export_fds(w, ex), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, ex, NULL), 0);
	assert_int_equal(read_expect(r, 1), 0);

	/* A payload larger than the copies: a new generation. */
	size_t big = (64 << 10) + 1;
	uint8_t *buf = calloc(1, big);
	assert_non_null(buf);
	assert_int_equal(mmsync_write(w, buf, big, 1000000000ull, NULL), 0);
	free(buf);
	assert_int_equal(mmsync_read_begin(r, &v), -ESTALE);
	mmsync_reader_close(r);
	assert_int_equal(from_fds_noleak(ex), -ESTALE);
	assert_int_equal(mmsync_writer_export_fds(w, fresh), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fresh, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(v.len, big);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	memcpy(fds, fresh, sizeof(fds));
	fds[MMSYNC_FD_COPY0] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	memcpy(fds, fresh, sizeof(fds));
	fds[MMSYNC_FD_COPY1] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	close(p[0]);
	close(p[1]);
	for (int k = 0; k < MMSYNC_NR_FDS; k++) {
		close(ex[k]);
		close(fresh[k]);
	}
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_writer_socket_fds),
		test_case(test_writer_export_fds),
		test_case(test_listen_retry),
		test_case(test_from_fds),
		test_case(test_from_fds_stale),
	};
	signal(SIGPIPE, SIG_IGN);
	return test_run(tests);
}
