/* SPDX-License-Identifier: MIT */
/*
 * Writing: from file descriptors (page cache, O_DIRECT, pipes, files that
 * shrink, failing descriptors), in place (begin/commit/abort), without page
 * faults once warm, and the opt-in checksums of the native layout. After
 * every failure the published version must be the previous one, whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "harness.h"
#include "mmsync.h"

#define MiB (1u << 20)

/* A writer of either layout, and a reader of it in this process (the
 * native one connects through a socket served from a child that keeps
 * nothing: the handshake only needs one dispatch). */
struct pair {
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct tmp_prefix t;
	bool native;
};

static void *connect_thread(void *arg)
{
	struct mmsync_reader **r = arg;
	char *sock = (char *)r[1];
	if (mmsync_reader_connect(&r[0], sock, NULL))
		r[0] = NULL;
	return NULL;
}

static void pair_open(struct pair *p, bool native, uint64_t capacity)
{
	*p = (struct pair){ .native = native };
	tmp_prefix_make(&p->t, "write");
	if (!native) {
		assert_int_equal(mmsync_writer_open(&p->w, p->t.prefix, NULL), 0);
		assert_int_equal(mmsync_reader_open(&p->r, p->t.prefix, NULL), 0);
		return;
	}
	char sock[64];
	snprintf(sock, sizeof(sock), "@mmsync-write-%d-%p", (int)getpid(), (void *)p);
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = capacity);
	assert_int_equal(mmsync_writer_create(&p->w, "write", &o), 0);
	assert_int_equal(mmsync_writer_listen(p->w, sock, NULL), 0);
	void *arg[2] = { NULL, sock };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, connect_thread, arg), 0);
	while (pthread_tryjoin_np(th, NULL) == EBUSY)
		mmsync_writer_dispatch(p->w);
	assert_non_null(arg[0]);
	p->r = arg[0];
}

static void pair_close(struct pair *p)
{
	mmsync_reader_close(p->r);
	mmsync_writer_close(p->w);
	tmp_prefix_remove(&p->t);
}

/* The published version: @len bytes of payload_fill(seq). */
static void expect(struct pair *p, size_t len, uint64_t seq)
{
	struct mmsync_view v;
	uint64_t got = 0; /* gcc (arm64) cannot tell a failed assert_true() never returns */
	assert_int_equal(mmsync_read_begin(p->r, &v), 0);
	assert_int_equal(v.len, len);
	assert_true(payload_check(v.data, v.len, &got));
	if (len >= 8)
		assert_int_equal(got, seq);
	assert_int_equal(mmsync_read_end(p->r, &v), 0);
}

/* A file of @len bytes of payload_fill(seq), at @offset in it. */
static int payload_file(const char *dir, size_t offset, size_t len, uint64_t seq)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/payload-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	uint8_t *buf = malloc(len ? len : 1);
	payload_fill(buf, len, seq);
	assert_int_equal(pwrite(fd, buf, len, (off_t)offset), (ssize_t)len);
	free(buf);
	return fd;
}

static void test_from_file(void **unused)
{
	(void)unused;
	static const size_t sizes[] = { 0, 1, 4095, 4096, MiB - 3, MiB, 3 * MiB + 17, 9 * MiB };
	for (int native = 0; native < 2; native++) {
		struct pair p;
		pair_open(&p, native, 4 * MiB); /* 9 MiB: a new generation on the way */
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t off = i % 2 ? 12345 : 0;
			int fd = payload_file(p.t.dir, off, sizes[i], i + 1);
			struct mmsync_write_info info;
			assert_int_equal(mmsync_write_from_fd(p.w, fd, (int64_t)off, sizes[i], 0, &info), 0);
			assert_int_equal(info.written, sizes[i]);
			close(fd);
			expect(&p, sizes[i], i + 1);
		}
		pair_close(&p);
	}
}

static void test_from_direct_file(void **unused)
{
	(void)unused;
	/* O_DIRECT needs a file system with it: the build's, not tmpfs. */
	char path[] = "/var/tmp/mmsync-direct-XXXXXX";
	int wfd = mkstemp(path);
	assert_true(wfd >= 0);
	size_t len = 5 * MiB + 1234; /* not a multiple of the block size */
	uint8_t *buf = malloc(len);
	payload_fill(buf, len, 77);
	assert_int_equal(pwrite(wfd, buf, len, 8192), (ssize_t)len);
	fsync(wfd);
	close(wfd);
	free(buf);
	int fd = open(path, O_RDONLY | O_DIRECT);
	unlink(path);
	if (fd < 0)
		test_skip_or_fail("no O_DIRECT on /var/tmp");
	for (int native = 0; native < 2; native++) {
		struct pair p;
		pair_open(&p, native, 8 * MiB);
		assert_int_equal(mmsync_write_from_fd(p.w, fd, 8192, len, 0, NULL), 0);
		expect(&p, len, 77);
		if (native) /* O_DIRECT reads whole blocks: offsets must be aligned */
			assert_int_equal(mmsync_write_from_fd(p.w, fd, 100, len, 0, NULL), -EINVAL);
		expect(&p, len, 77);
		pair_close(&p);
	}
	close(fd);
}

/* A pipe delivers in pieces (short reads); one that ends early fails. */
static void test_from_pipe(void **unused)
{
	(void)unused;
	for (int native = 0; native < 2; native++) {
		struct pair p;
		int pfd[2];
		size_t len = 700000;
		uint8_t *buf = malloc(len);

		pair_open(&p, native, MiB);
		payload_fill(buf, len, 5);
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = test_fork();
		if (pid == 0) {
			close(pfd[0]);
			for (size_t pos = 0; pos < len; pos += 10007) {
				size_t n = len - pos < 10007 ? len - pos : 10007;
				if (write(pfd[1], buf + pos, n) != (ssize_t)n)
					_exit(1);
				if (pos % 100000 < 10007)
					sleep_ns(1000000);
			}
			_exit(0);
		}
		close(pfd[1]);
		assert_int_equal(mmsync_write_from_fd(p.w, pfd[0], -1, len, 0, NULL), 0);
		assert_int_equal(wait_child(pid), 0);
		close(pfd[0]);
		expect(&p, len, 5);

		/* The writer end closes after half: nothing published. */
		assert_int_equal(pipe(pfd), 0);
		pid = test_fork();
		if (pid == 0) {
			close(pfd[0]);
			payload_fill(buf, len, 6);
			_exit(write(pfd[1], buf, len / 2) == (ssize_t)(len / 2) ? 0 : 1);
		}
		close(pfd[1]);
		assert_int_equal(mmsync_write_from_fd(p.w, pfd[0], -1, len, 0, NULL), -ENODATA);
		assert_int_equal(wait_child(pid), 0);
		close(pfd[0]);
		expect(&p, len, 5);
		pair_close(&p);
		free(buf);
	}
}

/* Descriptors that fail: closed (EBADF), a real EIO (/proc/self/mem at an
 * unmapped address), a file shorter than asked, an offset past the end. */
static void test_failing_descriptors(void **unused)
{
	(void)unused;
	for (int native = 0; native < 2; native++) {
		struct pair p;
		pair_open(&p, native, MiB);
		int fd = payload_file(p.t.dir, 0, 5000, 1);
		assert_int_equal(mmsync_write_from_fd(p.w, fd, 0, 5000, 0, NULL), 0);
		expect(&p, 5000, 1);

		int closed = dup2(fd, 900); /* a number no open() below will reuse */
		close(closed);
		assert_int_equal(mmsync_write_from_fd(p.w, closed, 0, 5000, 0, NULL), -EBADF);
		expect(&p, 5000, 1);

		int mem = open("/proc/self/mem", O_RDONLY);
		assert_true(mem >= 0);
		assert_int_equal(mmsync_write_from_fd(p.w, mem, 4096 /* never mapped */, 5000, 0, NULL), -EIO);
		close(mem);
		expect(&p, 5000, 1);

		assert_int_equal(mmsync_write_from_fd(p.w, fd, 0, 5001, 0, NULL), -ENODATA);
		assert_int_equal(mmsync_write_from_fd(p.w, fd, 6000, 10, 0, NULL), -ENODATA);
		expect(&p, 5000, 1);

		assert_int_equal(mmsync_write_from_fd(p.w, -1, 0, 10, 0, NULL), -EINVAL);
		assert_int_equal(mmsync_write_from_fd(p.w, fd, -2, 10, 0, NULL), -EINVAL);
		assert_int_equal(mmsync_write_from_fd(NULL, fd, 0, 10, 0, NULL), -EINVAL);
		close(fd);
		expect(&p, 5000, 1);
		pair_close(&p);
	}
}

/* A file truncated and rewritten under the writer, over and over: each
 * write succeeds with a whole payload or fails; what readers see is whole. */
static void test_file_shrinking_underneath(void **unused)
{
	(void)unused;
	struct pair p;
	size_t len = 2 * MiB;
	char path[256];
	uint8_t *buf = malloc(len);

	pair_open(&p, true, 4 * MiB);
	snprintf(path, sizeof(path), "%s/shrinking", p.t.dir);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	payload_fill(buf, len, 1);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	assert_int_equal(mmsync_write_from_fd(p.w, fd, 0, len, 0, NULL), 0);

	_Atomic int *stop = shared_map(sizeof(*stop));
	pid_t pid = test_fork();
	if (pid == 0) {
		int wfd = open(path, O_RDWR);
		for (uint64_t seq = 2; !atomic_load(stop); seq++) {
			if (ftruncate(wfd, (off_t)(seq * 4096 % len)))
				_exit(1);
			payload_fill(buf, len, 1);
			if (pwrite(wfd, buf, len, 0) != (ssize_t)len)
				_exit(1);
		}
		_exit(0);
	}
	/* 300 rounds, and on until one of them read a file cut short (the
	 * child's truncations race the reads: on a loaded machine they may
	 * take longer to meet), within the deadline. */
	unsigned ok = 0, short_reads = 0;
	uint64_t until = test_deadline();
	for (int i = 0; i < 300 || (!short_reads && now_ns() < until); i++) {
		int err = mmsync_write_from_fd(p.w, fd, 0, len, 0, NULL);
		assert_true(err == 0 || err == -ENODATA);
		ok += err == 0;
		short_reads += err == -ENODATA;
		/* Whole or refused: the bytes are the same payload either way
		 * unless the file was cut under the read, which payload_check sees. */
		struct mmsync_view v;
		uint64_t seq;
		assert_int_equal(mmsync_read_begin(p.r, &v), 0);
		assert_int_equal(v.len, len);
		bool whole = payload_check(v.data, v.len, &seq);
		assert_int_equal(mmsync_read_end(p.r, &v), 0);
		if (!whole)
			fail_msg("a torn payload was published at round %d", i);
	}
	atomic_store(stop, 1);
	assert_int_equal(wait_child(pid), 0);
	print_message("%u whole writes, %u refused (the file ended under the read)\n", ok, short_reads);
	assert_true(short_reads > 0);
	close(fd);
	free(buf);
	pair_close(&p);
}

static void test_begin_commit_abort(void **unused)
{
	(void)unused;
	for (int native = 0; native < 2; native++) {
		struct pair p;
		void *ptr;
		struct mmsync_write_info info;

		pair_open(&p, native, MiB);
		assert_int_equal(mmsync_write_commit(p.w, 0, NULL), -EINVAL);
		assert_int_equal(mmsync_write_abort(p.w), -EINVAL);
		assert_int_equal(mmsync_write_begin(p.w, 10, 0, NULL), -EINVAL);

		assert_int_equal(mmsync_write_begin(p.w, 1000, 0, &ptr), 0);
		payload_fill(ptr, 1000, 1);
		assert_int_equal(mmsync_write_begin(p.w, 10, 0, &ptr), -EBUSY);
		assert_int_equal(mmsync_write(p.w, "x", 1, 0, NULL), -EBUSY);
		assert_int_equal(mmsync_write_from_fd(p.w, 0, 0, 1, 0, NULL), -EBUSY);
		assert_int_equal(mmsync_write_commit(p.w, 1001, NULL), -EINVAL); /* more than begun */
		assert_int_equal(mmsync_write_commit(p.w, 1000, &info), 0);
		assert_int_equal(info.written, 1000);
		expect(&p, 1000, 1);

		/* Abort after a partial fill: the current version stays. */
		assert_int_equal(mmsync_write_begin(p.w, 5000, 0, &ptr), 0);
		memset(ptr, 0xee, 2000);
		assert_int_equal(mmsync_write_abort(p.w), 0);
		expect(&p, 1000, 1);
		assert_int_equal(mmsync_write_commit(p.w, 10, NULL), -EINVAL);

		/* Begin while a reader holds the current version: the reader's
		 * bytes do not move while the next version is built. */
		struct mmsync_view v;
		uint64_t seq = 0; /* as in expect() */
		assert_int_equal(mmsync_read_begin(p.r, &v), 0);
		assert_int_equal(mmsync_write_begin(p.w, 3000, 1000000000ull, &ptr), 0);
		assert_true(ptr != v.data);
		payload_fill(ptr, 2500, 2);
		assert_true(payload_check(v.data, v.len, &seq));
		assert_int_equal(seq, 1);
		assert_int_equal(mmsync_write_commit(p.w, 2500, NULL), 0); /* commit less than begun */
		assert_true(payload_check(v.data, v.len, &seq));
		assert_int_equal(mmsync_read_end(p.r, &v), 0);
		expect(&p, 2500, 2);

		if (native) { /* beyond the capacity: built in a new generation */
			assert_int_equal(mmsync_write_begin(p.w, 3 * MiB, 0, &ptr), 0);
			payload_fill(ptr, 3 * MiB, 3);
			assert_int_equal(mmsync_write_commit(p.w, 3 * MiB, NULL), 0);
			expect(&p, 3 * MiB, 3);
		}
		pair_close(&p);
	}
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Once warm, neither the writer nor a reader takes a page fault: the
 * writer's copies are prefaulted before they are filled, the reader's
 * mappings populated when mapped. Counted, not timed. A regression costs at
 * least a fault per write (100000 here); the kernel may still migrate a page
 * under both processes now and then (proactive compaction), which costs one
 * fault each and is not ours: a handful is allowed. */
#define STRAY_FAULTS 4
static void __attribute__((unused)) test_no_page_faults(void **unused)
{
	(void)unused;
	struct pair p;
	static uint8_t buf[256 << 10];
	int ready[2], go[2];
	char c;

	pair_open(&p, true, MiB);
	payload_fill(buf, sizeof(buf), 1);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		/* A reader of its own process: its faults are its own. Warm:
		 * it has read both copies at the largest size. */
		struct mmsync_view v;
		volatile uint64_t sink = 0;
		unsigned seen = 0;
		for (uint64_t last = 0; seen < 6;) {
			if (mmsync_read_begin(p.r, &v) == 0) {
				for (size_t k = 0; k < v.len; k += 4096)
					sink += ((const uint8_t *)v.data)[k];
				seen += v.seq != last;
				last = v.seq;
				mmsync_read_end(p.r, &v);
			}
		}
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		long before = minor_faults();
		for (int i = 0; i < 1000000; i++) {
			if (mmsync_read_begin(p.r, &v))
				_exit(5);
			sink += ((const uint8_t *)v.data)[(size_t)i * 4096 % v.len];
			mmsync_read_end(p.r, &v);
		}
		long faults = minor_faults() - before;
		(void)sink; /* a use, for clang's -Wunused-but-set-variable */
		_exit(faults > 250 ? 250 : (int)faults);
	}
	/* Warm, after the fork (its copy-on-write faults are not ours to count):
	 * both copies written at both sizes, each seen by the reader. */
	close(ready[1]);
	close(go[0]);
	for (uint64_t until = test_deadline(); !fd_ready(ready[0], 0);) {
		if (now_ns() > until)
			fail_msg("the reader did not warm up in %d s", TEST_DEADLINE_S);
		assert_int_equal(mmsync_write(p.w, buf, sizeof(buf), 1000000000ull, NULL), 0);
		sleep_ns(2000000);
	}
	read_byte(ready[0], "the reader");
	assert_int_equal(write(go[1], "g", 1), 1);
	long before = minor_faults();
	for (int i = 0; i < 100000; i++)
		if (mmsync_write(p.w, buf, i % 2 ? sizeof(buf) : 4096, 1000000000ull, NULL))
			fail_msg("write %d failed", i);
	long writer_faults = minor_faults() - before;
	int reader_faults = wait_child(pid);
	print_message("minor faults: writer %ld in 100000 writes, reader %d in 1000000 reads\n",
		      writer_faults, reader_faults);
	assert_in_range(writer_faults, 0, STRAY_FAULTS);
	assert_in_range(reader_faults, 0, STRAY_FAULTS);
	close(ready[0]);
	close(go[1]);
	pair_close(&p);
}

/* The first fill of fresh pages takes no fault either: write_begin()
 * prefaulted them (io_uring fallocate + MADV_POPULATE_WRITE). Without the
 * prefault, filling 4 MiB takes 1024 faults here. */
static void __attribute__((unused)) test_prefaulted_fill(void **unused)
{
	(void)unused;
	for (int huge = 0; huge < 2; huge++) {
		struct mmsync_writer *w;
		void *ptr;
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 16 * MiB,
			    .flags = huge ? MMSYNC_HUGETLB : 0);
		int err = mmsync_writer_create(&w, uniq("prefault"), &o);
		if (huge && err == -ENOMEM)
			test_skip_or_fail("not enough free huge pages for 2 x 16 MiB (vm.nr_hugepages)");
		assert_int_equal(err, 0);
		for (int round = 0; round < 3; round++) {
			size_t len = (size_t)(round + 1) * 4 * MiB; /* growing: fresh pages each time */
			assert_int_equal(mmsync_write_begin(w, len, 0, &ptr), 0);
			long before = minor_faults();
			memset(ptr, round + 1, len);
			long faults = minor_faults() - before;
			assert_int_equal(mmsync_write_commit(w, len, NULL), 0);
			print_message("%s: filling %zu fresh bytes took %ld faults\n",
				      huge ? "hugetlb" : "memfd", len, faults);
			assert_int_equal(faults, 0);
		}
		mmsync_writer_close(w);
	}
}

/* Native checksums are opt-in: a reader asking to verify a segment without
 * them is told at set-up; with them, it verifies. */
static void test_native_checksums(void **unused)
{
	(void)unused;
	for (int with = 0; with < 2; with++) {
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		struct mmsync_view v;
		struct mmsync_write_info info;
		int fds[MMSYNC_NR_FDS];
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = with ? MMSYNC_CHECKSUM : 0);
		MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM);

		assert_int_equal(mmsync_writer_create(&w, uniq("sums"), &o), 0);
		assert_int_equal(mmsync_write(w, "checked", 7, 0, &info), 0);
		assert_int_equal(mmsync_version_checksum(info.version) != 0, with);
		assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
		int err = mmsync_reader_from_fds(&r, fds, &ro);
		for (int i = 0; i < MMSYNC_NR_FDS; i++)
			close(fds[i]);
		if (!with) {
			assert_int_equal(err, -EOPNOTSUPP);
		} else {
			assert_int_equal(err, 0);
			assert_int_equal(mmsync_read_begin(r, &v), 0);
			assert_memory_equal(v.data, "checked", 7);
			assert_int_equal(mmsync_read_end(r, &v), 0);
			mmsync_reader_close(r);
		}
		mmsync_writer_close(w);
	}
}

/* mmsync_writer_stat(): the figures a reader would read, from the writer. */
static void test_writer_stat(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_write_info info;
	struct mmsync_stat st = { .sz = sizeof(st) }, small = { .sz = 8 };

	tmp_prefix_make(&t, "wstat");
	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_writer_stat(NULL, &st), -EINVAL);
	assert_int_equal(mmsync_writer_stat(w, NULL), -EINVAL);
	assert_int_equal(mmsync_writer_stat(w, &small), -EINVAL);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.version, 0);
	assert_int_equal(mmsync_write(w, "hello", 5, 0, &info), 0);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.version, info.version);
	assert_int_equal(st.size, 5);
	assert_false(st.native);
	assert_int_equal(st.readers[st.idx], 1);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_int_equal(st.readers[st.idx], 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);

	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 1 << 20, .flags = MMSYNC_BPF_OFF);
	const char *name = uniq("wstat");
	assert_int_equal(mmsync_writer_create(&w, name, &o), 0);
	assert_int_equal(mmsync_write(w, "hello", 5, 0, NULL), 0);
	assert_int_equal(mmsync_write(w, "hello!", 6, 0, &info), 0);
	assert_int_equal(mmsync_writer_stat(w, &st), 0);
	assert_true(st.native);
	assert_int_equal(st.version, info.version);
	assert_int_equal(st.seq, 2);
	assert_int_equal(st.size, 6);
	assert_int_equal(st.capacity, 1 << 20);
	assert_int_equal(st.writer_pid, getpid());
	assert_string_equal(st.name, name);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_from_file),
		test_case(test_from_direct_file),
		test_case(test_from_pipe),
		test_case(test_failing_descriptors),
		test_case(test_file_shrinking_underneath),
		test_case(test_begin_commit_abort),
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		/* Page faults are the kernel's, not memory safety: under a
		 * sanitizer every first touch also faults in shadow memory, so
		 * these two run in the plain build only. */
		test_case(test_no_page_faults),
		test_case(test_prefaulted_fill),
#endif
		test_case(test_native_checksums),
		test_case(test_writer_stat),
	};
	return test_run(tests);
}
