/* SPDX-License-Identifier: MIT */
/* The native layout in the environments it runs in: a sandboxed reader with
 * no file system, hugetlb copies, a socket handed over by systemd, and too
 * few descriptors. Several need root, or huge pages, or skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "harness.h"
#include "native_test.h"

/* A reader with no file system at all (a new mount namespace, chrooted into
 * an empty tmpfs) reads every version through the socket, and another
 * through inherited descriptors. */
static void sandbox(void)
{
	char root[] = "/tmp/mmsync-sandbox-XXXXXX";
	if (!mkdtemp(root) || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k") ||
	    chroot(root) || chdir("/"))
		_exit(10);
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != ENOENT ||
	    open("/proc/self/fd", O_RDONLY) >= 0)
		_exit(11); /* not a sandbox */
}

static void sandboxed_reads(struct mmsync_reader *r, int ready_fd, uint64_t last)
{
	struct reader_result res = { 0 };
	uint64_t seen = 0, versions = 0;

	/* Its word once it has read the first version: whatever the
	 * scheduler does, it reads at least one more (the last). */
	while (seen < last) {
		uint64_t before = seen;
		if (checked_read(r, &res, &seen) || res.torn || res.stale)
			_exit(13);
		versions += seen != before;
		if (versions == 1 && seen != before && write(ready_fd, "r", 1) != 1)
			_exit(12);
	}
	mmsync_reader_close(r);
	_exit(versions >= 2 ? 0 : 14);
}

static void test_sandboxed_reader(void **unused)
{
	(void)unused;
	char sock[64];
	int ready[2], fds[MMSYNC_NR_FDS];
	char c;
	uint8_t buf[10000];

	sock_name(sock, sizeof(sock), "sandbox");
	struct mmsync_writer *w = serve("sandbox", sock, 1 << 20, 0);
	payload_fill(buf, sizeof(buf), 1);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);

	pid_t by_socket = test_fork();
	if (by_socket == 0) {
		struct mmsync_reader *r;
		sandbox();
		if (mmsync_reader_connect(&r, sock, NULL)) /* abstract: no file needed */
			_exit(15);
		sandboxed_reads(r, ready[1], 50);
	}
	pid_t by_fds = test_fork();
	if (by_fds == 0) {
		struct mmsync_reader *r;
		sandbox();
		if (mmsync_reader_from_fds(&r, fds, NULL))
			_exit(16);
		sandboxed_reads(r, ready[1], 50);
	}
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	close(ready[1]);
	for (uint64_t n = 0, until = test_deadline(); n < 2;) {
		mmsync_writer_dispatch(w);
		if (fd_ready(ready[0], 10) && read(ready[0], &c, 1) == 1)
			n++;
		int st = exited(by_socket);
		st = st < 0 ? exited(by_fds) : st;
		if (st == 10)
			test_skip_or_fail("cannot make a sandbox (unshare/chroot need root)");
		if (st >= 0)
			fail_msg("a sandboxed reader stopped early (%d)", st);
		if (now_ns() > until)
			fail_msg("the sandboxed readers did not read in %d s", TEST_DEADLINE_S);
	}
	for (uint64_t seq = 2; seq <= 50; seq++) {
		size_t len = (size_t)(seq * 197) % sizeof(buf);
		payload_fill(buf, len < 8 ? 8 : len, seq);
		assert_int_equal(mmsync_write(w, buf, len < 8 ? 8 : len, 1000000000ull, NULL), 0);
		mmsync_writer_dispatch(w);
		sleep_ns(2 * 1000000ull);
	}
	int a = wait_child(by_socket), b = wait_child(by_fds);
	if (a == 10 || b == 10)
		test_skip_or_fail("cannot make a sandbox (unshare/chroot need root)");
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);
	close(ready[0]);
	mmsync_writer_close(w);
}

/* Huge pages neither in use nor reserved by a mapping. */
static long free_huge_pages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = -1, rsvd = 0, v;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			n = v;
		if (sscanf(line, "HugePages_Rsvd: %ld", &v) == 1)
			rsvd = v;
	}
	if (f)
		fclose(f);
	return n < 0 ? -1 : n - rsvd;
}

/* Copies in hugetlb memfds: served and read like the others; too few free
 * huge pages is a clear error at creation. */
static void test_hugetlb(void **unused)
{
	(void)unused;
	char sock[64];
	uint8_t buf[100000];
	struct mmsync_writer *w;
	long free_pages = free_huge_pages();

	if (free_pages < 2)
		test_skip_or_fail("fewer than 2 free huge pages (echo 8 > /proc/sys/vm/nr_hugepages)");
	sock_name(sock, sizeof(sock), "huge");
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 1000, .flags = MMSYNC_HUGETLB);
	assert_int_equal(mmsync_writer_create(&w, uniq("huge"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	payload_fill(buf, sizeof(buf), 5);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	assert_true(free_huge_pages() <= free_pages - 2); /* both copies hold huge pages */

	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		struct mmsync_stat st = { .sz = sizeof(st) };
		if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
			_exit(3);
		bool ok = v.len == sizeof(buf) && payload_check(v.data, v.len, &seq) && seq == 5;
		mmsync_read_end(r, &v);
		if (mmsync_reader_stat(r, &st) || st.capacity % (2 << 20))
			_exit(4); /* rounded up to the huge page size */
		_exit(ok ? 0 : 5);
	}
	assert_int_equal(dispatch_until_exit(w, pid), 0);
	mmsync_writer_close(w);

	pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w2;
		MMSYNC_OPTS(mmsync_native_opts, big, .flags = MMSYNC_HUGETLB,
			    .capacity = (uint64_t)(free_huge_pages() + 1) * (2 << 20));
		int err = mmsync_writer_create(&w2, uniq("huge-too-big"), &big);
		_exit(err == -ENOMEM ? 0 : 1);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* Copies as files in a hugetlbfs mount (which cannot be sealed: readers
 * that trust the writer (MMSYNC_TRUST_UNSEALED) check the file system
 * instead; others refuse them). */
static void ignore_log(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static void test_hugetlbfs_dir(void **unused)
{
	(void)unused;
	char dir[] = "/tmp/mmsync-hugetlbfs-XXXXXX", sock[64];
	uint8_t buf[50000];

	if (free_huge_pages() < 2)
		test_skip_or_fail("fewer than 2 free huge pages (echo 8 > /proc/sys/vm/nr_hugepages)");
	assert_non_null(mkdtemp(dir));
	if (mount("none", dir, "hugetlbfs", 0, NULL)) {
		rmdir(dir);
		test_skip_or_fail("cannot mount hugetlbfs (needs root)");
	}
	sock_name(sock, sizeof(sock), "hugetlbfs");
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .hugetlbfs_dir = dir);
	assert_int_equal(mmsync_writer_create(&w, uniq("hugetlbfs"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	payload_fill(buf, sizeof(buf), 9);
	assert_int_equal(mmsync_write(w, buf, sizeof(buf), 0, NULL), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_reader *r;
		struct mmsync_view v;
		uint64_t seq;
		MMSYNC_OPTS(mmsync_reader_opts, quiet, .log = ignore_log);
		if (mmsync_reader_connect(&r, sock, &quiet) != -EBADMSG)
			_exit(2);
		MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_TRUST_UNSEALED);
		if (mmsync_reader_connect(&r, sock, &ro) || mmsync_read_begin(r, &v))
			_exit(3);
		bool ok = v.len == sizeof(buf) && payload_check(v.data, v.len, &seq) && seq == 9;
		_exit(ok && mmsync_read_end(r, &v) == 0 ? 0 : 4);
	}
	assert_int_equal(dispatch_until_exit(w, pid), 0);
	mmsync_writer_close(w);
	assert_int_equal(umount(dir), 0);
	rmdir(dir);
}

/* A listening socket handed over as systemd does (fd 3, LISTEN_PID,
 * LISTEN_FDS); without one, a clear error. */
static void test_systemd_socket(void **unused)
{
	(void)unused;
	char sock[64];

	sock_name(sock, sizeof(sock), "systemd");
	pid_t pid = test_fork();
	if (pid == 0) {
		struct sockaddr_un sa;
		socklen_t len;
		struct mmsync_writer *w;
		char n[32];
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (fd < 0 || fdpass_addr(sock, &sa, &len) || bind(fd, (struct sockaddr *)&sa, len) ||
		    listen(fd, 8) || dup2(fd, 3) != 3)
			_exit(3);
		if (fd != 3)
			close(fd);
		if (mmsync_writer_create(&w, uniq("systemd"), NULL))
			_exit(4);
		unsetenv("LISTEN_PID");
		if (mmsync_writer_listen(w, NULL, NULL) != -ENOTSOCK)
			_exit(5);
		snprintf(n, sizeof(n), "%d", (int)getpid());
		setenv("LISTEN_PID", n, 1);
		setenv("LISTEN_FDS", "1", 1);
		if (mmsync_writer_listen(w, NULL, NULL) || mmsync_write(w, "systemd", 7, 0, NULL))
			_exit(6);
		pid_t reader = test_fork();
		if (reader == 0) {
			struct mmsync_reader *r;
			struct mmsync_view v;
			if (mmsync_reader_connect(&r, sock, NULL) || mmsync_read_begin(r, &v))
				_exit(7);
			_exit(v.len == 7 && !memcmp(v.data, "systemd", 7) ? 0 : 8);
		}
		int st = dispatch_until_exit(w, reader);
		mmsync_writer_close(w);
		_exit(st);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* A stream socket handed over (a .socket unit with ListenStream=): refused
 * at once, -ENOTSOCK, the log naming the directive the unit needs. */
static char stream_log[512];

static void stream_log_fn(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(stream_log, sizeof(stream_log), "%s", msg);
}

static void test_systemd_stream_socket(void **unused)
{
	(void)unused;
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w;
		char n[32];
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "mmsync-stream-%d", (int)getpid());
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
		    dup2(fd, 3) != 3)
			_exit(3);
		MMSYNC_OPTS(mmsync_native_opts, o, .flags = MMSYNC_BPF_OFF, .log = stream_log_fn);
		if (mmsync_writer_create(&w, uniq("stream"), &o))
			_exit(4);
		snprintf(n, sizeof(n), "%d", (int)getpid());
		setenv("LISTEN_PID", n, 1);
		setenv("LISTEN_FDS", "1", 1);
		if (mmsync_writer_listen(w, NULL, NULL) != -ENOTSOCK)
			_exit(5);
		if (!strstr(stream_log, "not SOCK_SEQPACKET: the .socket unit must use "
					"ListenSequentialPacket=, not ListenStream="))
			_exit(6);
		mmsync_writer_close(w);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* Out of descriptors at any step of creating a writer or a reader: a
 * clear error, nothing left open, nothing half made. */
static void test_out_of_descriptors(void **unused)
{
	(void)unused;
	pid_t pid = test_fork();
	if (pid == 0) {
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		int base = count_fds(), failures = 0, fds[MMSYNC_NR_FDS];
		for (int extra = 0; extra < 20; extra++) {
			struct rlimit rl = { (rlim_t)(base + extra), 1024 };
			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(10);
			MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_OFF);
			int err = mmsync_writer_create(&w, uniq("nofd"), &o);
			if (err && err != -EMFILE)
				_exit(3);
			if (!err) {
				if (mmsync_write(w, "x", 1, 0, NULL))
					_exit(4);
				err = mmsync_writer_export_fds(w, fds);
				if (!err) {
					err = mmsync_reader_from_fds(&r, fds, NULL);
					if (err && err != -EMFILE)
						_exit(5);
					if (!err)
						mmsync_reader_close(r);
					for (int i = 0; i < MMSYNC_NR_FDS; i++)
						close(fds[i]);
				} else if (err != -EMFILE) {
					_exit(6);
				}
				mmsync_writer_close(w);
			}
			failures += err != 0;
			struct rlimit all = { 1024, 1024 };
			setrlimit(RLIMIT_NOFILE, &all);
			if (count_fds() != base)
				_exit(7); /* a descriptor left behind */
		}
		_exit(failures > 0 ? 0 : 8);
	}
	assert_int_equal(wait_child(pid), 0);
}

/* A reader at its own descriptor limit when the handshake arrives: the
 * kernel drops the descriptors it cannot install (MSG_CTRUNC). That is
 * -EMFILE, this process's own shortage, not a damaged segment (-EBADMSG). */
static void test_reader_out_of_descriptors(void **unused)
{
	(void)unused;
	char sock[64];
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .flags = MMSYNC_BPF_OFF);
	assert_int_equal(mmsync_writer_create(&w, uniq("reader-nofd"), &o), 0);
	sock_name(sock, sizeof(sock), "reader-nofd");
	assert_int_equal(mmsync_writer_listen(w, sock, NULL), 0);
	assert_int_equal(mmsync_write(w, "x", 1, 0, NULL), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		int base = count_fds(), emfile = 0;
		for (int extra = 1; extra < 8; extra++) {
			struct rlimit rl = { (rlim_t)(base + extra), 1024 };
			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(10);
			struct mmsync_reader *r;
			int err = mmsync_reader_connect(&r, sock, NULL);
			if (err && err != -EMFILE)
				_exit(20 + extra); /* -EBADMSG before */
			emfile += err == -EMFILE;
			if (!err)
				mmsync_reader_close(r);
			struct rlimit all = { 1024, 1024 };
			setrlimit(RLIMIT_NOFILE, &all);
			if (count_fds() != base)
				_exit(11);
		}
		_exit(emfile > 0 ? 0 : 12);
	}
	assert_int_equal(dispatch_until_exit(w, pid), 0);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_sandboxed_reader),
		test_case(test_hugetlb),
		test_case(test_hugetlbfs_dir),
		test_case(test_systemd_socket),
		test_case(test_systemd_stream_socket),
		test_case(test_out_of_descriptors),
		test_case(test_reader_out_of_descriptors),
	};
	return test_run(tests);
}
