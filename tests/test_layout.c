/* SPDX-License-Identifier: MIT */
/* The compat layout against the Rust crate: version words, the hash, and
 * files the crate wrote (tests/vectors/, see its README). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>

#include "compat_layout.h"
#include "harness.h"
#include "hash.h"
#include "mmsync.h"

static const char *vectors_dir;

static void test_version_word_round_trip(void **unused)
{
	(void)unused;
	srand(1234);
	for (int i = 0; i < 100000; i++) {
		unsigned idx = (unsigned)rand() & 1;
		uint64_t size = (((uint64_t)rand() << 31) ^ (uint64_t)rand()) & MMSYNC_MAX_PAYLOAD;
		uint64_t hash = ((uint64_t)rand() << 32) ^ (uint64_t)rand();
		uint64_t v;
		if (i == 0)
			size = MMSYNC_MAX_PAYLOAD;
		if (i == 1)
			size = 0;
		assert_int_equal(compat_version_encode(idx, size, hash, &v), 0);
		assert_int_equal(mmsync_version_idx(v), idx);
		assert_int_equal(mmsync_version_size(v), size);
		assert_int_equal(mmsync_version_checksum(v), hash & 0xffffff);
	}
}

static void test_version_word_size_limit(void **unused)
{
	(void)unused;
	uint64_t v = 42;
	assert_int_equal(compat_version_encode(0, MMSYNC_MAX_PAYLOAD + 1, 0, &v), -EMSGSIZE);
	assert_int_equal(compat_version_encode(1, UINT64_MAX, 0, &v), -EMSGSIZE);
	assert_int_equal(v, 42);

	/* The writer refuses before touching the buffer or the files. */
	struct tmp_prefix t;
	struct mmsync_writer *w;
	tmp_prefix_make(&t, "big");
	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, (const void *)1, (size_t)MMSYNC_MAX_PAYLOAD + 1, 0, NULL),
			 -EMSGSIZE);
	mmsync_writer_close(w);
	struct mmsync_reader *r;
	uint64_t ver;
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_version(r, &ver), -ENODATA);
	mmsync_reader_close(r);
	tmp_prefix_remove(&t);
}

/* The crate's hash for payloads of every length branch. */
static void test_hash_vectors(void **unused)
{
	(void)unused;
	char path[512], line[256];
	static uint8_t buf[1 << 17];
	int n = 0;

	snprintf(path, sizeof(path), "%s/wyhash.txt", vectors_dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i % 251);
	while (fgets(line, sizeof(line), f)) {
		size_t len;
		uint64_t want;
		if (line[0] == '#' || sscanf(line, "%zu %" SCNx64, &len, &want) != 2)
			continue;
		assert_true(len <= sizeof(buf));
		if (mmsync_hash(buf, len) != want)
			fail_msg("hash of %zu bytes: %016" PRIx64 ", crate says %016" PRIx64,
				 len, mmsync_hash(buf, len), want);
		n++;
	}
	fclose(f);
	assert_true(n >= 80); /* every branch: 0..64 and beyond */
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void copy_file(const char *from, const char *to)
{
	static uint8_t buf[65536];
	size_t n = slurp(from, buf, sizeof(buf));
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

struct vector {
	const char *name;
	uint64_t version;
};

static const struct vector vectors[] = {
	{ "hello36", 17550808123327905864ull },
	{ "ascii15", 18427627964549038110ull },
};

/* Files the crate wrote read back through the C reader. */
static void test_read_crate_files(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *vec = &vectors[i];
		char from[512], to[512];
		uint8_t payload[4096];
		struct tmp_prefix t;

		tmp_prefix_make(&t, vec->name);
		snprintf(from, sizeof(from), "%s/mmap-sync/%s/mmsvec_%s_state", vectors_dir, vec->name, vec->name);
		file_path(to, sizeof(to), t.prefix, "_state");
		copy_file(from, to);
		snprintf(from, sizeof(from), "%s/mmap-sync/%s/mmsvec_%s_data_0", vectors_dir, vec->name, vec->name);
		file_path(to, sizeof(to), t.prefix, "_data_0");
		copy_file(from, to);
		snprintf(from, sizeof(from), "%s/mmap-sync/%s/payload.bin", vectors_dir, vec->name);
		size_t plen = slurp(from, payload, sizeof(payload));

		MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM);
		struct mmsync_reader *r;
		struct mmsync_view v;
		assert_int_equal(mmsync_reader_open(&r, t.prefix, &ro), 0);
		assert_int_equal(mmsync_read_begin(r, &v), 0);
		assert_int_equal(v.version, vec->version);
		assert_int_equal(v.len, plen);
		assert_memory_equal(v.data, payload, plen);
		assert_true(v.switched);
		assert_int_equal(mmsync_hash(payload, plen) & 0xffffff, mmsync_version_checksum(vec->version));

		struct mmsync_stat st = { .sz = sizeof(st) };
		assert_int_equal(mmsync_reader_stat(r, &st), 0);
		assert_int_equal(st.readers[0], 1); /* our view, counted as the crate counts */
		assert_int_equal(mmsync_read_end(r, &v), 0);
		assert_int_equal(mmsync_reader_stat(r, &st), 0);
		assert_int_equal(st.readers[0], 0);
		mmsync_reader_close(r);
		tmp_prefix_remove(&t);
	}
}

/* The C writer, given the same payload, writes the same bytes as the crate. */
static void test_write_like_crate(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *vec = &vectors[i];
		char path[512], mine[512];
		uint8_t payload[4096], a[4096], b[4096];
		struct tmp_prefix t;
		struct mmsync_writer *w;
		struct mmsync_write_info info;

		tmp_prefix_make(&t, vec->name);
		snprintf(path, sizeof(path), "%s/mmap-sync/%s/payload.bin", vectors_dir, vec->name);
		size_t plen = slurp(path, payload, sizeof(payload));
		assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
		assert_int_equal(mmsync_write(w, payload, plen, 1000000000ull, &info), 0);
		assert_int_equal(info.version, vec->version);
		assert_int_equal(info.written, plen);
		assert_false(info.reset);
		mmsync_writer_close(w);

		snprintf(path, sizeof(path), "%s/mmap-sync/%s/mmsvec_%s_state", vectors_dir, vec->name, vec->name);
		file_path(mine, sizeof(mine), t.prefix, "_state");
		assert_int_equal(slurp(mine, a, sizeof(a)), 16);
		assert_int_equal(slurp(path, b, sizeof(b)), 16);
		assert_memory_equal(a, b, 16);

		snprintf(path, sizeof(path), "%s/mmap-sync/%s/mmsvec_%s_data_0", vectors_dir, vec->name, vec->name);
		file_path(mine, sizeof(mine), t.prefix, "_data_0");
		size_t n = slurp(mine, a, sizeof(a));
		assert_int_equal(n, slurp(path, b, sizeof(b)));
		assert_memory_equal(a, b, n);
		tmp_prefix_remove(&t);
	}
}

/* Modes as the crate asks for them, less the umask. */
static void test_file_modes(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *w;
	char path[512];
	struct stat st;

	tmp_prefix_make(&t, "modes");
	mode_t old = umask(007);
	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_write(w, "abc", 3, 0, NULL), 0);
	mmsync_writer_close(w);
	umask(old);
	file_path(path, sizeof(path), t.prefix, "_state");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_size, 16);
	file_path(path, sizeof(path), t.prefix, "_data_0");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(st.st_size, 3);
	tmp_prefix_remove(&t);
}

/* A sequence of writes alternates copies; data files only grow; a new
 * writer on the same files continues where the last stopped. */
static void test_alternation_and_restart(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_write_info info;
	struct mmsync_view v;
	uint8_t buf[5000];
	char path[512];
	struct stat st;

	tmp_prefix_make(&t, "alt");
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	const size_t sizes[] = { 5000, 100, 7, 4000, 0, 1 };
	for (size_t i = 0; i < 6; i++) {
		/* a new writer handle every other write: a restarted writer */
		if (i % 2 == 0)
			assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
		payload_fill(buf, sizes[i], i + 1);
		assert_int_equal(mmsync_write(w, buf, sizes[i], 0, &info), 0);
		assert_int_equal(mmsync_version_idx(info.version), i % 2);
		if (i % 2 == 1)
			mmsync_writer_close(w);

		assert_int_equal(mmsync_read_begin(r, &v), 0);
		assert_int_equal(v.version, info.version);
		assert_int_equal(v.len, sizes[i]);
		assert_memory_equal(v.data, buf, sizes[i]);
		assert_int_equal(mmsync_read_end(r, &v), 0);
	}
	file_path(path, sizeof(path), t.prefix, "_data_0");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5000);
	file_path(path, sizeof(path), t.prefix, "_data_1");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4000);
	mmsync_reader_close(r);
	tmp_prefix_remove(&t);
}

int main(int argc, char **argv)
{
	vectors_dir = argc > 1 ? argv[1] : "tests/vectors";
	const struct CMUnitTest tests[] = {
		test_case(test_version_word_round_trip),
		test_case(test_version_word_size_limit),
		test_case(test_hash_vectors),
		test_case(test_read_crate_files),
		test_case(test_write_like_crate),
		test_case(test_file_modes),
		test_case(test_alternation_and_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
