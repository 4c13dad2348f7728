/* SPDX-License-Identifier: MIT */
/* Hostile files and paths on the compat layout: closed standard
 * descriptors, a full file system, planted symlinks and hard links, files of
 * another owner, FIFOs. The library refuses each with an error (and a log
 * line naming the file); nothing crashes, hangs or writes where it should
 * not. Runs as root (CI): owners are made with chown and setuid children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <grp.h>

#include "harness.h"
#include "mmsync.h"

#define OTHER_UID 54321
#define THIRD_UID 54322

/* What the library logged, for the assertions on what it names. */
static char logged[2048];

static void log_to_buffer(void *ctx, const char *msg)
{
	(void)ctx;
	size_t n = strlen(logged);
	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

static void need_root(void)
{
	if (geteuid() != 0)
		test_skip_or_fail("owners and mounts need root");
}

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void publish(const char *prefix, const void *buf, size_t len)
{
	struct mmsync_writer *w;
	assert_int_equal(mmsync_writer_open(&w, prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, buf, len, 0, NULL), 0);
	mmsync_writer_close(w);
}

static int read_with(const char *prefix, uid_t trust, char *out, size_t cap)
{
	MMSYNC_OPTS(mmsync_reader_opts, o, .trust_uid = trust, .log = log_to_buffer);
	struct mmsync_reader *r;
	struct mmsync_view v;
	int err = mmsync_reader_open(&r, prefix, &o);
	if (err)
		return err;
	err = mmsync_read_begin(r, &v);
	if (!err) {
		if (out)
			snprintf(out, cap, "%.*s", (int)v.len, (const char *)v.data);
		err = mmsync_read_end(r, &v);
	}
	mmsync_reader_close(r);
	return err;
}

static int open_writer(const char *prefix, uid_t trust, struct mmsync_writer **w)
{
	MMSYNC_OPTS(mmsync_writer_opts, o, .trust_uid = trust, .log = log_to_buffer);
	return mmsync_writer_open(w, prefix, &o);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* 1. With 0, 1 and 2 closed, no descriptor of the library lands there
 * (before: the state file became fd 0 and a printf() wrote into it). */
static void test_stdio_closed(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	tmp_prefix_make(&t, "stdio");
	pid_t pid = test_fork();
	if (pid == 0) {
		close(0);
		close(1);
		close(2);
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		struct mmsync_view v;
		if (mmsync_writer_open(&w, t.prefix, NULL) || mmsync_write(w, "abc", 3, 0, NULL))
			_exit(10);
		if (mmsync_reader_open(&r, t.prefix, NULL) || mmsync_read_begin(r, &v))
			_exit(11);
		if (fd_open(0) || fd_open(1) || fd_open(2))
			_exit(12);
		mmsync_read_end(r, &v);
		mmsync_reader_close(r);
		mmsync_writer_close(w);
		/* The native layout: memfds, the socket, received descriptors. */
		MMSYNC_OPTS(mmsync_native_opts, no, .flags = MMSYNC_BPF_OFF, .capacity = 1 << 16);
		if (mmsync_writer_create(&w, uniq("stdio"), &no) || mmsync_write(w, "abc", 3, 0, NULL))
			_exit(13);
		int fds[MMSYNC_NR_FDS];
		if (mmsync_writer_export_fds(w, fds) || mmsync_reader_from_fds(&r, fds, NULL))
			_exit(14);
		if (fd_open(0) || fd_open(1) || fd_open(2))
			_exit(15);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	tmp_prefix_remove(&t);
}

/* Mounts a tmpfs of @size at a new directory @dir (PATH_MAX). */
static void small_tmpfs(char *dir, const char *size)
{
	char cmd[256];
	strcpy(dir, "/tmp/mmsync-hostile-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=%s mmsync-test '%s' 2>/dev/null", size, dir);
	if (system(cmd) != 0) {
		rmdir(dir);
		test_skip_or_fail("mounting a small tmpfs needs root");
	}
}

static void tmpfs_remove(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "umount '%s'", dir);
	assert_int_equal(system(cmd), 0);
	rmdir(dir);
}

/* Fills the file system of @dir to the last page. */
static void fill_up(const char *dir)
{
	char path[256];
	static char page[4096];
	snprintf(path, sizeof(path), "%s/filler", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	while (write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
}

/* Runs @fn in a child: its return value is the child's exit status, a
 * signal (SIGBUS) is 128 + it. */
static int in_child(int (*fn)(const char *), const char *arg)
{
	pid_t pid = test_fork();
	if (pid == 0)
		_exit(fn(arg));
	return wait_child(pid);
}

static int writer_on_full(const char *prefix)
{
	struct mmsync_writer *w;
	int err = mmsync_writer_open(&w, prefix, NULL);
	if (!err) {
		err = mmsync_write(w, "x", 1, 0, NULL);
		mmsync_writer_close(w);
	}
	return err == -ENOSPC ? 0 : 1;
}

static int reader_on_full(const char *prefix)
{
	return read_with(prefix, 0, NULL, 0) == -ENOSPC ? 0 : 1;
}

static int stat_on_full(const char *prefix)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	if (mmsync_reader_open(&r, prefix, NULL))
		return 2;
	int err = mmsync_reader_stat(r, &st);
	mmsync_reader_close(r);
	return err == -ENOSPC ? 0 : 1;
}

/* 2. A full file system: the writer's new state file, a sparse state file
 * and a sparse data file (what the crate's set_len leaves) give -ENOSPC,
 * never a SIGBUS (before: writer and readers died of it). */
static void test_full_file_system(void **unused)
{
	(void)unused;
	char dir[PATH_MAX], prefix[PATH_MAX], path[PATH_MAX + 16];
	need_root();
	small_tmpfs(dir, "256k");

	/* A sparse data file under a state file that names it. */
	snprintf(prefix, sizeof(prefix), "%s/sparse_data", dir);
	publish(prefix, "0123456789", 10); /* copy 0 */
	file_path(path, sizeof(path), prefix, "_data_1");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	close(fd);
	file_path(path, sizeof(path), prefix, "_state");
	uint64_t v = 1 | (uint64_t)8192 << 1; /* copy 1, 8192 bytes */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	close(fd);

	/* A sparse state file, as set_len leaves it. */
	char sparse_state[PATH_MAX];
	snprintf(sparse_state, sizeof(sparse_state), "%s/sparse_state", dir);
	file_path(path, sizeof(path), sparse_state, "_state");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0660);
	assert_int_equal(ftruncate(fd, 16), 0);
	close(fd);

	fill_up(dir);
	char fresh[PATH_MAX];
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	assert_int_equal(in_child(writer_on_full, fresh), 0);
	assert_int_equal(in_child(writer_on_full, sparse_state), 0);
	assert_int_equal(in_child(reader_on_full, sparse_state), 0);
	assert_int_equal(in_child(stat_on_full, sparse_state), 0);
	assert_int_equal(in_child(reader_on_full, prefix), 0);
	tmpfs_remove(dir);
}

/* 3a. Symlinks are never followed: a planted PREFIX_state -> victim is
 * neither truncated nor written; a PREFIX_data_1 -> secret is not read. */
static void test_symlinks(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[PATH_MAX], victim[200], got[64];
	tmp_prefix_make(&t, "planted");

	snprintf(victim, sizeof(victim), "%s/victim", t.dir);
	write_file(victim, "precious bytes", 14, 0600);
	file_path(path, sizeof(path), t.prefix, "_state");
	assert_int_equal(symlink(victim, path), 0);
	struct mmsync_writer *w;
	logged[0] = 0;
	assert_int_equal(open_writer(t.prefix, 0, &w), -ELOOP);
	assert_non_null(strstr(logged, "_state is a symbolic link"));
	assert_int_equal(read_with(t.prefix, 0, NULL, 0), -ELOOP);
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 14);

	/* A data file planted as a link to a secret, named by the version word. */
	char other[200], secret[200];
	snprintf(other, sizeof(other), "%s/other", t.dir);
	publish(other, "a", 1);
	publish(other, "b", 1); /* copy 1 now */
	snprintf(secret, sizeof(secret), "%s/secret", t.dir);
	write_file(secret, "s3cr3t", 6, 0600);
	file_path(path, sizeof(path), other, "_data_1");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(secret, path), 0);
	got[0] = 0;
	assert_int_equal(read_with(other, 0, got, sizeof(got)), -ELOOP);
	assert_null(strstr(got, "s3cr3t"));
	/* ... nor does the writer write through it. */
	assert_int_equal(open_writer(other, 0, &w), 0);
	assert_int_equal(mmsync_write(w, "c", 1, 0, NULL), 0); /* copy 0 */
	assert_int_equal(mmsync_write(w, "d", 1, 0, NULL), -ELOOP);
	mmsync_writer_close(w);
	assert_int_equal(stat(secret, &st), 0);
	assert_int_equal(st.st_size, 6);
	tmp_prefix_remove(&t);
}

/* 3b. A hard link to someone's file is as good as a symlink to it. */
static void test_hard_links(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[PATH_MAX], victim[200];
	tmp_prefix_make(&t, "linked");
	snprintf(victim, sizeof(victim), "%s/victim", t.dir);
	write_file(victim, "precious bytes", 14, 0600);
	file_path(path, sizeof(path), t.prefix, "_state");
	assert_int_equal(link(victim, path), 0);
	struct mmsync_writer *w;
	logged[0] = 0;
	assert_int_equal(open_writer(t.prefix, 0, &w), -EPERM);
	assert_non_null(strstr(logged, "has 2 links"));
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 14);
	tmp_prefix_remove(&t);
}

/* 3c. Files of another owner are refused (the error names the file and its
 * owner) unless the caller trusts that uid; root's own files are trusted by
 * everyone. */
static void test_foreign_owner(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[PATH_MAX], got[64];
	need_root();
	tmp_prefix_make(&t, "foreign");
	assert_int_equal(chmod(t.dir, 0777), 0);
	publish(t.prefix, "forged", 6);
	const char *suffix[] = { "_state", "_data_0" };
	for (int i = 0; i < 2; i++) {
		file_path(path, sizeof(path), t.prefix, suffix[i]);
		assert_int_equal(chown(path, OTHER_UID, OTHER_UID), 0);
		assert_int_equal(chmod(path, 0666), 0);
	}
	struct mmsync_writer *w;
	logged[0] = 0;
	assert_int_equal(open_writer(t.prefix, 0, &w), -EPERM);
	assert_non_null(strstr(logged, "foreign_state belongs to uid 54321"));
	logged[0] = 0;
	assert_int_equal(read_with(t.prefix, 0, got, sizeof(got)), -EPERM);
	assert_non_null(strstr(logged, "belongs to uid 54321"));
	/* Trusted by name: read and written. */
	assert_int_equal(read_with(t.prefix, OTHER_UID, got, sizeof(got)), 0);
	assert_string_equal(got, "forged");
	assert_int_equal(open_writer(t.prefix, OTHER_UID, &w), 0);
	mmsync_writer_close(w);

	/* A reader of another uid: root's files are trusted, a third user's are
	 * not unless named. */
	char rootp[200];
	snprintf(rootp, sizeof(rootp), "%s/rooted", t.dir);
	publish(rootp, "by root", 7);
	for (int i = 0; i < 2; i++) {
		file_path(path, sizeof(path), rootp, suffix[i]);
		assert_int_equal(chmod(path, 0666), 0); /* the other uid counts itself in */
	}
	pid_t pid = test_fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(THIRD_UID) || setuid(THIRD_UID))
			_exit(10);
		char out[64];
		if (read_with(rootp, 0, out, sizeof(out)) || strcmp(out, "by root"))
			_exit(11);
		if (read_with(t.prefix, 0, out, sizeof(out)) != -EPERM)
			_exit(12);
		if (read_with(t.prefix, OTHER_UID, out, sizeof(out)) || strcmp(out, "forged"))
			_exit(13);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	tmp_prefix_remove(&t);
}

/* Reads @prefix in a child that dies of SIGALRM if the read blocks. */
static int read_fifo(const char *prefix)
{
	alarm(10);
	return read_with(prefix, 0, NULL, 0) == -EINVAL ? 0 : 1;
}

static int write_fifo(const char *prefix)
{
	alarm(10);
	struct mmsync_writer *w;
	return open_writer(prefix, 0, &w) == -EINVAL ? 0 : 1;
}

/* 4. FIFOs in place of the files: refused at once, never a blocking open
 * (before: `mmsync cat` hung in open()). */
static void test_fifos(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	char path[PATH_MAX];
	tmp_prefix_make(&t, "fifo");
	publish(t.prefix, "a", 1);
	publish(t.prefix, "b", 1); /* copy 1 */
	file_path(path, sizeof(path), t.prefix, "_data_1");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(in_child(read_fifo, t.prefix), 0);

	char other[200];
	snprintf(other, sizeof(other), "%s/fifostate", t.dir);
	file_path(path, sizeof(path), other, "_state");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(in_child(write_fifo, other), 0);
	assert_int_equal(in_child(read_fifo, other), 0);
	tmp_prefix_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_stdio_closed),
		test_case(test_full_file_system),
		test_case(test_symlinks),
		test_case(test_hard_links),
		test_case(test_foreign_owner),
		test_case(test_fifos),
	};
	return test_run(tests);
}
