/* SPDX-License-Identifier: MIT */
/*
 * The optional parts of this build (meson_options.txt, config.h): a part
 * that was built is used, and one that was left out is not there at all,
 * its fallback always taken. With io_uring a native writer holds a ring;
 * without it none, though this kernel would give one (the rest of the suite
 * then runs every write on the plain system calls). Without BPF a writer
 * pins nothing, and what asks for BPF fails with -ENOSYS (with BPF,
 * test_bpf.c and bpf_test.sh test what it gives).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <linux/io_uring.h>

#include "config.h"
#include "harness.h"
#include "mmsync.h"

/* io_uring instances this process holds: descriptors of anon_inode:[io_uring]. */
static int rings_held(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[PATH_MAX], target[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = 0;
			n += !strcmp(target, "anon_inode:[io_uring]");
		}
	}
	closedir(d);
	return n;
}

/* Whether this kernel lets this process set up a ring at all. */
static bool kernel_gives_rings(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int fd = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_io_uring(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_OFF);

	if (!kernel_gives_rings())
		test_skip_or_fail("io_uring_setup refused here: no ring either way");
	int before = rings_held();
	assert_int_equal(mmsync_writer_create(&w, uniq("features-uring"), &o), 0);
	int rings = rings_held() - before;
	print_message("built %s io_uring: the writer holds %d ring(s)\n",
		      MMSYNC_HAVE_IO_URING ? "with" : "without", rings);
	assert_int_equal(rings, MMSYNC_HAVE_IO_URING ? 1 : 0);
	mmsync_writer_close(w);
	assert_int_equal(rings_held(), before);
}

#if !MMSYNC_HAVE_BPF
static char logged[512];

static void log_line(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(logged, sizeof(logged), "%s", msg);
}

static void test_without_bpf(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_stat st = { .sz = sizeof(st) };
	char pins[128];
	const char *name = uniq("features-bpf");

	/* The default (BPF where allowed) falls back to the memfd header:
	 * no pins, even as root, and the writer works. */
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096);
	assert_int_equal(mmsync_writer_create(&w, name, &o), 0);
	snprintf(pins, sizeof(pins), "/sys/fs/bpf/mmsync/%s", name);
	assert_int_equal(access(pins, F_OK), -1);
	assert_int_equal(mmsync_write(w, "x", 1, 0, NULL), 0);
	mmsync_writer_close(w);

	/* Asked for, BPF fails, saying why. */
	MMSYNC_OPTS(mmsync_native_opts, req, .capacity = 4096, .flags = MMSYNC_BPF_REQUIRE,
		    .log = log_line);
	assert_int_equal(mmsync_writer_create(&w, name, &req), -ENOSYS);
	assert_null(w);
	print_message("logged: %s\n", logged);
	assert_non_null(strstr(logged, "built without BPF"));
	assert_non_null(strstr(mmsync_strerror(-ENOSYS), "built without"));

	/* No pins to read, whatever the name. */
	assert_int_equal(mmsync_stat_pinned(name, &st), -ENOSYS);
}
#endif

/* What mmsync stat --all asks: -ENOSYS before any argument is looked at
 * tells a library without BPF from one with it. */
static void test_bpf_probe(void **unused)
{
	(void)unused;
	assert_int_equal(mmsync_stat_pinned(NULL, NULL), MMSYNC_HAVE_BPF ? -EINVAL : -ENOSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_io_uring),
		test_case(test_bpf_probe),
#if !MMSYNC_HAVE_BPF
		test_case(test_without_bpf),
#endif
	};
	return test_run(tests);
}
