/* SPDX-License-Identifier: MIT */
/* Every error the compat layout can return, on bad arguments and on files
 * damaged on purpose. Nothing may crash: no SIGBUS on a short file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "mmsync.h"

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void truncate_file(const char *prefix, const char *suffix, off_t len)
{
	char path[512];
	file_path(path, sizeof(path), prefix, suffix);
	assert_int_equal(truncate(path, len), 0);
}

static void publish(const char *prefix, const void *buf, size_t len)
{
	struct mmsync_writer *w;
	assert_int_equal(mmsync_writer_open(&w, prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, buf, len, 0, NULL), 0);
	mmsync_writer_close(w);
}

static int read_once(const char *prefix, unsigned flags, struct mmsync_view *out)
{
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = flags);
	struct mmsync_reader *r;
	struct mmsync_view v;
	assert_int_equal(mmsync_reader_open(&r, prefix, &ro), 0);
	int err = mmsync_read_begin(r, &v);
	if (!err) {
		if (out)
			*out = v;
		assert_int_equal(mmsync_read_end(r, &v), 0);
	}
	mmsync_reader_close(r);
	return err;
}

static void test_bad_arguments(void **unused)
{
	(void)unused;
	struct mmsync_writer *w = (void *)1;
	struct mmsync_reader *r = (void *)1;
	struct mmsync_view v;
	uint64_t ver;
	char longp[5000];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(mmsync_writer_open(NULL, "/dev/shm/x", NULL), -EINVAL);
	assert_int_equal(mmsync_writer_open(&w, NULL, NULL), -EINVAL);
	assert_null(w);
	assert_int_equal(mmsync_writer_open(&w, "", NULL), -EINVAL);
	assert_int_equal(mmsync_writer_open(&w, longp, NULL), -ENAMETOOLONG);
	assert_int_equal(mmsync_reader_open(&r, NULL, NULL), -EINVAL);
	assert_null(r);
	assert_int_equal(mmsync_reader_open(&r, longp, NULL), -ENAMETOOLONG);
	assert_int_equal(mmsync_write(NULL, "x", 1, 0, NULL), -EINVAL);
	assert_int_equal(mmsync_read_begin(NULL, &v), -EINVAL);
	assert_int_equal(mmsync_read_end(NULL, &v), -EINVAL);
	assert_int_equal(mmsync_version(NULL, &ver), -EINVAL);

	/* Options: unknown flags, a size too small, unknown non-zero tail. */
	struct tmp_prefix t;
	tmp_prefix_make(&t, "args");
	struct mmsync_writer_opts wo = { .sz = sizeof(wo), .flags = 1u << 30 };
	assert_int_equal(mmsync_writer_open(&w, t.prefix, &wo), -EINVAL);
	struct mmsync_reader_opts ro = { .sz = sizeof(ro), .flags = 1u << 30 };
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), -EINVAL);
	ro = (struct mmsync_reader_opts){ .sz = 2 };
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), -EINVAL);
	struct {
		struct mmsync_reader_opts o;
		uint64_t future;
	} newer = { { .sz = sizeof(newer) }, 0 };
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &newer.o), 0); /* zero tail: fine */
	mmsync_reader_close(r);
	newer.future = 1;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &newer.o), -EINVAL);
	/* An older caller's struct without flags: defaults. */
	ro = (struct mmsync_reader_opts){ .sz = sizeof(size_t) };
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), 0);
	mmsync_reader_close(r);

	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, NULL, 1, 0, NULL), -EINVAL);
	assert_int_equal(mmsync_write(w, NULL, 0, 0, NULL), 0); /* an empty payload */
	mmsync_writer_close(w);
	mmsync_writer_close(NULL);
	mmsync_reader_close(NULL);
	tmp_prefix_remove(&t);
}

static void test_not_yet_published(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_reader *r;
	struct mmsync_writer *w;
	struct mmsync_view v;
	uint64_t ver;

	tmp_prefix_make(&t, "early");
	/* The reader opens before anything exists. */
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), -ENOENT);
	assert_int_equal(mmsync_version(r, &ver), -ENOENT);
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r, &st), -ENOENT);

	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), -ENODATA);
	assert_int_equal(mmsync_version(r, &ver), -ENODATA);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.version, 0);

	assert_int_equal(mmsync_write(w, "first", 5, 0, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_memory_equal(v.data, "first", 5);
	assert_true(v.switched);
	/* One view per handle. */
	struct mmsync_view v2;
	assert_int_equal(mmsync_read_begin(r, &v2), -EBUSY);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL); /* twice */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_false(v.switched);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_version(r, &ver), 0);
	assert_int_equal(ver, v.version);

	/* Closing a reader with a view open gives its count back. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	mmsync_reader_close(r);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.readers[0] + st.readers[1], 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

static void test_damaged_state(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[512];
	struct mmsync_view v;
	uint8_t junk[17] = { 0xff };

	tmp_prefix_make(&t, "state");
	publish(t.prefix, "payload", 7);
	file_path(path, sizeof(path), t.prefix, "_state");
	for (size_t len = 0; len <= 17; len++) {
		if (len == 16)
			continue;
		write_file(path, junk, len);
		assert_int_equal(read_once(t.prefix, 0, NULL), -EBADMSG);
	}
	/* A directory where the state file should be. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	int err = mmsync_read_begin(r, &v);
	assert_true(err == -EBADMSG || err == -EISDIR);
	mmsync_reader_close(r);
	assert_int_equal(rmdir(path), 0);

	/* The writer re-initialises a state file of the wrong size, as the crate does. */
	write_file(path, junk, 15);
	publish(t.prefix, "again", 5);
	assert_int_equal(read_once(t.prefix, 0, &v), 0);
	assert_int_equal(v.len, 5);
	assert_int_equal(mmsync_version_idx(v.version), 0);
	tmp_prefix_remove(&t);
}

static void test_damaged_data(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[512];
	uint8_t buf[100000];

	tmp_prefix_make(&t, "data");
	payload_fill(buf, sizeof(buf), 9);
	publish(t.prefix, buf, sizeof(buf));

	/* Shorter than the version word says: refused before any access. */
	truncate_file(t.prefix, "_data_0", 99999);
	assert_int_equal(read_once(t.prefix, 0, NULL), -EBADMSG);
	truncate_file(t.prefix, "_data_0", 0);
	assert_int_equal(read_once(t.prefix, 0, NULL), -EBADMSG);
	/* Missing. */
	file_path(path, sizeof(path), t.prefix, "_data_0");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(read_once(t.prefix, 0, NULL), -EBADMSG);

	/* Longer is fine: files only grow, readers use the first size bytes. */
	publish(t.prefix, buf, 10); /* data_1 */
	publish(t.prefix, buf, 20); /* data_0 again, 20 bytes */
	truncate_file(t.prefix, "_data_0", 1 << 20);
	struct mmsync_view v;
	assert_int_equal(read_once(t.prefix, MMSYNC_VERIFY_CHECKSUM, &v), 0);
	assert_int_equal(v.len, 20);

	/* A reader that already mapped a copy sees it shrink: the next version
	 * word is checked against the file again. */
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	publish(t.prefix, buf, 50000); /* data_1 */
	publish(t.prefix, buf, 60000); /* data_0 */
	truncate_file(t.prefix, "_data_0", 100);
	assert_int_equal(mmsync_read_begin(r, &v), -EBADMSG);
	mmsync_reader_close(r);
	tmp_prefix_remove(&t);
}

static void test_checksum(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[512];
	struct mmsync_view v;

	tmp_prefix_make(&t, "sum");
	publish(t.prefix, "abcdefgh", 8);
	assert_int_equal(read_once(t.prefix, MMSYNC_VERIFY_CHECKSUM, &v), 0);
	/* Flip one byte of the payload behind the writer's back. */
	file_path(path, sizeof(path), t.prefix, "_data_0");
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 3), 1);
	close(fd);
	assert_int_equal(read_once(t.prefix, MMSYNC_VERIFY_CHECKSUM, NULL), -EBADMSG);
	assert_int_equal(read_once(t.prefix, 0, &v), 0); /* not asked to verify */
	tmp_prefix_remove(&t);
}

static void test_single_writer(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *a, *b;
	MMSYNC_OPTS(mmsync_writer_opts, o, .flags = MMSYNC_SINGLE_WRITER);

	tmp_prefix_make(&t, "single");
	assert_int_equal(mmsync_writer_open(&a, t.prefix, &o), 0);
	assert_int_equal(mmsync_writer_open(&b, t.prefix, &o), -EBUSY);
	assert_null(b);
	/* Also from another process. */
	pid_t pid = test_fork();
	if (pid == 0)
		_exit(mmsync_writer_open(&b, t.prefix, &o) == -EBUSY ? 0 : 1);
	assert_int_equal(wait_child(pid), 0);
	mmsync_writer_close(a);
	assert_int_equal(mmsync_writer_open(&b, t.prefix, &o), 0);
	mmsync_writer_close(b);
	tmp_prefix_remove(&t);
}

/* A full filesystem: the write fails, the old version stays. */
static void test_no_space(void **unused)
{
	(void)unused;
	char dir[] = "/tmp/mmsync-full-XXXXXX";
	char prefix[128], cmd[256];
	struct mmsync_writer *w;
	struct mmsync_view v;
	static uint8_t buf[4 << 20];

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=2m mmsync-test '%s' 2>/dev/null", dir);
	if (system(cmd) != 0) {
		rmdir(dir);
		test_skip_or_fail("mounting a small tmpfs needs root");
	}
	snprintf(prefix, sizeof(prefix), "%s/full", dir);
	payload_fill(buf, 1000, 1);
	assert_int_equal(mmsync_writer_open(&w, prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, buf, 1000, 0, NULL), 0);
	payload_fill(buf, sizeof(buf), 2);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), -ENOSPC);
	assert_int_equal(read_once(prefix, MMSYNC_VERIFY_CHECKSUM, &v), 0);
	assert_int_equal(v.len, 1000);
	mmsync_writer_close(w);
	snprintf(cmd, sizeof(cmd), "umount '%s'", dir);
	assert_int_equal(system(cmd), 0);
	rmdir(dir);
}

/* Each options struct has flags on bits of its own: a flag of another
 * struct is refused, where it used to be taken for the flag sharing its
 * bit (MMSYNC_HUGETLB given to mmsync_writer_open() was
 * MMSYNC_SINGLE_WRITER). */
static void test_flag_families(void **unused)
{
	(void)unused;
	const unsigned compat_writer = MMSYNC_SINGLE_WRITER | MMSYNC_NO_RESET;
	const unsigned native_writer = MMSYNC_HUGETLB | MMSYNC_CHECKSUM | MMSYNC_BPF_OFF |
				       MMSYNC_BPF_REQUIRE | MMSYNC_KEEP_PINS;
	const unsigned reader = MMSYNC_VERIFY_CHECKSUM | MMSYNC_FENCED | MMSYNC_FENCELESS;
	const unsigned listen = MMSYNC_LISTEN_SERVE;
	assert_int_equal(compat_writer & native_writer, 0);
	assert_int_equal(compat_writer & reader, 0);
	assert_int_equal(native_writer & reader, 0);
	assert_int_equal((compat_writer | native_writer | reader) & listen, 0);

	struct tmp_prefix t;
	tmp_prefix_make(&t, "families");
	struct mmsync_writer *w = NULL;
	struct mmsync_reader *r = NULL;
	const unsigned foreign_to_compat_writer[] = { MMSYNC_HUGETLB, MMSYNC_CHECKSUM, MMSYNC_KEEP_PINS,
						      MMSYNC_VERIFY_CHECKSUM, MMSYNC_FENCED };
	for (size_t i = 0; i < sizeof(foreign_to_compat_writer) / sizeof(unsigned); i++) {
		MMSYNC_OPTS(mmsync_writer_opts, o, .flags = foreign_to_compat_writer[i]);
		assert_int_equal(mmsync_writer_open(&w, t.prefix, &o), -EINVAL);
		assert_null(w);
	}
	const unsigned foreign_to_reader[] = { MMSYNC_SINGLE_WRITER, MMSYNC_NO_RESET, MMSYNC_HUGETLB,
					       MMSYNC_CHECKSUM };
	for (size_t i = 0; i < sizeof(foreign_to_reader) / sizeof(unsigned); i++) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .flags = foreign_to_reader[i]);
		assert_int_equal(mmsync_reader_open(&r, t.prefix, &o), -EINVAL);
		assert_int_equal(mmsync_reader_connect(&r, "@mmsync-test-families", &o), -EINVAL);
		assert_null(r);
	}
	const unsigned foreign_to_native_writer[] = { MMSYNC_SINGLE_WRITER, MMSYNC_NO_RESET,
						      MMSYNC_VERIFY_CHECKSUM, MMSYNC_FENCELESS };
	for (size_t i = 0; i < sizeof(foreign_to_native_writer) / sizeof(unsigned); i++) {
		MMSYNC_OPTS(mmsync_native_opts, o, .flags = foreign_to_native_writer[i] | MMSYNC_BPF_OFF);
		assert_int_equal(mmsync_writer_create(&w, "families", &o), -EINVAL);
		assert_null(w);
	}
	/* Each flag is still taken by its own struct. */
	MMSYNC_OPTS(mmsync_writer_opts, wo, .flags = compat_writer);
	assert_int_equal(mmsync_writer_open(&w, t.prefix, &wo), 0);
	mmsync_writer_close(w);
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), 0);
	mmsync_reader_close(r);
	tmp_prefix_remove(&t);
}

/* Options refused with -EINVAL say why: through the options' log callback
 * where the caller's struct has one, else on stderr, naming the function
 * and the field at fault. */
static char logged[1024];

static void capture(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(logged, sizeof(logged), "%s", msg);
}

static void assert_logged(const char *want)
{
	if (!strstr(logged, want))
		fail_msg("logged \"%s\", wanted \"%s\"", logged, want);
	logged[0] = 0;
}

static void test_bad_opts_said(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "said");
	struct mmsync_writer *w = NULL;
	struct mmsync_reader *r = NULL;

	/* A tail this library does not know. */
	struct {
		struct mmsync_writer_opts o;
		uint64_t future;
	} newer = { { .sz = sizeof(newer), .log = capture }, 1 };
	assert_int_equal(mmsync_writer_open(&w, t.prefix, &newer.o), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "mmsync_writer_open(): opts->sz is %zu, past the %zu bytes of "
		 "struct mmsync_writer_opts", sizeof(newer), sizeof(newer.o));
	assert_logged(want);
	/* A flag of another struct, each front. */
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_HUGETLB, .log = capture);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), -EINVAL);
	assert_logged("mmsync_reader_open(): opts->flags 0x100 has bits 0x100 that are no flag of "
		      "struct mmsync_reader_opts");
	assert_int_equal(mmsync_reader_connect(&r, "@mmsync-test-said", &ro), -EINVAL);
	assert_logged("mmsync_reader_connect(): opts->flags 0x100");
	MMSYNC_OPTS(mmsync_native_opts, no, .flags = MMSYNC_SINGLE_WRITER | MMSYNC_BPF_OFF,
		    .log = capture);
	assert_int_equal(mmsync_writer_create(&w, "said", &no), -EINVAL);
	assert_logged("mmsync_writer_create(): opts->flags 0x401 has bits 0x1");
	/* Listen options have no log: the writer's says it. */
	no.flags = MMSYNC_BPF_OFF;
	assert_int_equal(mmsync_writer_create(&w, "said", &no), 0);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_NO_RESET);
	assert_int_equal(mmsync_writer_listen(w, "@mmsync-test-said", &lo), -EINVAL);
	assert_logged("mmsync_writer_listen(): opts->flags 0x2");
	lo = (struct mmsync_listen_opts){ .sz = 3 };
	assert_int_equal(mmsync_writer_listen(w, "@mmsync-test-said", &lo), -EINVAL);
	assert_logged("mmsync_writer_listen(): opts->sz is 3, less than the size field itself");
	mmsync_writer_close(w);

	/* A size too small to reach the log field: stderr. */
	fflush(stderr);
	int saved = dup(2), fd = memfd_create("stderr", 0);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	struct mmsync_reader_opts small = { .sz = 2, .log = capture };
	assert_int_equal(mmsync_reader_open(&r, t.prefix, &small), -EINVAL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char buf[1024] = { 0 };
	assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
	close(fd);
	assert_string_equal(logged, ""); /* not the callback its size does not reach */
	if (!strstr(buf, "mmsync_reader_open(): opts->sz is 2, less than the size field itself: "
			 "declare the options with MMSYNC_OPTS(mmsync_reader_opts, NAME, ...)"))
		fail_msg("stderr: %s", buf);
	tmp_prefix_remove(&t);
}

/* A view lives on the caller's stack: words reserved now let later
 * versions add fields without changing its size. */
static void test_view_has_room(void **unused)
{
	(void)unused;
	assert_int_equal(sizeof(struct mmsync_view), 80);
	assert_true(offsetof(struct mmsync_view, reserved_) + 4 * sizeof(uint64_t) ==
		    sizeof(struct mmsync_view));
}

static void test_strerror(void **unused)
{
	(void)unused;
	assert_string_equal(mmsync_strerror(-ENODATA), "nothing published yet");
	assert_non_null(strstr(mmsync_strerror(-EBADMSG), "damaged"));
	assert_non_null(strstr(mmsync_strerror(ESTALE), "grace"));
	/* The refusals of hostile files and writers name their cause. */
	assert_non_null(strstr(mmsync_strerror(-EPERM), "trust"));
	assert_non_null(strstr(mmsync_strerror(-ELOOP), "symbolic link"));
	assert_non_null(strstr(mmsync_strerror(-ENOSPC), "full"));
	assert_non_null(strstr(mmsync_strerror(-ECONNRESET), "revoked"));
	assert_non_null(mmsync_strerror(-EIO));
	assert_non_null(mmsync_strerror(-123456));
	assert_non_null(mmsync_strerror(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_bad_arguments),
		test_case(test_not_yet_published),
		test_case(test_damaged_state),
		test_case(test_damaged_data),
		test_case(test_checksum),
		test_case(test_single_writer),
		test_case(test_no_space),
		test_case(test_flag_families),
		test_case(test_bad_opts_said),
		test_case(test_view_has_room),
		test_case(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
