/* SPDX-License-Identifier: MIT */
/* The native read protocol's details, driven from one process: what
 * fenceless readers cost, table slots reused, arrivals the writer need not
 * wait for, and the inline read path against the library's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "native_test.h"

/* Fenceless readers cost the writer one membarrier per write, only while
 * one is connected; a reader that cannot register reads fenced, and one
 * that demands fenceless reads is told it cannot have them. */
static void test_fenceless_accounting(void **unused)
{
	(void)unused;
	char sock[64];
	struct mmsync_stat st = { .sz = sizeof(st) };

	sock_name(sock, sizeof(sock), "fence");
	struct mmsync_writer *w = serve("fence", sock, 4096, 0);
	int ready[2], go[2];
	char c;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = test_fork();
	if (pid == 0) {
		/* Sandboxed: no membarrier. Fenceless refused, fenced fine. */
		struct mmsync_reader *r;
		struct mmsync_view v;
		MMSYNC_OPTS(mmsync_reader_opts, must, .flags = MMSYNC_FENCELESS);
		if (forbid_membarrier())
			_exit(10);
		if (mmsync_reader_connect(&r, sock, &must) != -ENOTSUP)
			_exit(3);
		if (mmsync_reader_connect(&r, sock, NULL) || write(ready[1], "r", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(4);
		int err = mmsync_read_begin(r, &v);
		if (err || v.len != 5 || memcmp(v.data, "fence", 5) || mmsync_read_end(r, &v))
			_exit(5);
		mmsync_reader_close(r);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	for (uint64_t until = test_deadline(); !fd_ready(ready[0], 5);) {
		int st = exited(pid);
		if (st == 10)
			test_skip_or_fail("cannot install a seccomp filter");
		if (st >= 0)
			fail_msg("the sandboxed reader stopped early (%d)", st);
		if (now_ns() > until)
			fail_msg("no word from the sandboxed reader in %d s", TEST_DEADLINE_S);
		mmsync_writer_dispatch(w);
	}
	read_byte(ready[0], "the sandboxed reader");
	for (int i = 0; i < 20; i++)
		assert_int_equal(mmsync_write(w, "fence", 5, 1000000000ull, NULL), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	int status = dispatch_until_exit(w, pid);
	if (status == 10)
		test_skip_or_fail("cannot install a seccomp filter");
	assert_int_equal(status, 0);

	/* Only a fenced reader was there: no write paid a membarrier. */
	struct mmsync_reader *r;
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	int fds[MMSYNC_NR_FDS];
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers, 0);
	mmsync_reader_close(r);

	/* A fenceless reader: every write pays one. */
	MMSYNC_OPTS(mmsync_reader_opts, fenceless, .flags = MMSYNC_FENCELESS);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenceless), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(mmsync_write(w, "fence", 5, 1000000000ull, NULL), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	print_message("membarriers: %lu for 20 writes with a fenceless reader\n",
		      (unsigned long)st.membarriers);
	assert_true(st.membarriers >= 19 && st.membarriers <= 20);
	struct mmsync_view v;
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	close(ready[0]);
	close(go[1]);
	mmsync_writer_close(w);
}

/* A reader that claims a table slot another reader used numbers its reads
 * past the last one's: a number the slot's `reading` word (or the writer's
 * eviction record) still holds must never pass for one of the new reader's
 * (the model in tests/protocol.pml shows the unprotected read otherwise). */
static void test_table_slot_reuse(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *a, *b;
	struct mmsync_view v;
	int fds[MMSYNC_NR_FDS];
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = 1, .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("reuse"), &o), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	const struct native_slot *slot = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[MMSYNC_FD_SLOTS], 0);
	assert_true(slot != MAP_FAILED);
	assert_int_equal(mmsync_reader_from_fds(&a, fds, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mmsync_read_begin(a, &v), 0);
		assert_int_equal(mmsync_read_end(a, &v), 0);
	}
	uint64_t last = atomic_load(&slot->reading) >> 1;
	mmsync_reader_close(a);
	assert_int_equal(mmsync_reader_from_fds(&b, fds, NULL), 0); /* the only slot: a's */
	assert_int_equal(mmsync_read_begin(b, &v), 0);
	assert_true((atomic_load(&slot->arrived) >> 1) > last);
	assert_true((atomic_load(&slot->reading) >> 1) > last);
	assert_int_equal(mmsync_read_end(b, &v), 0);
	mmsync_reader_close(b);
	munmap((void *)slot, 4096);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* The writer does not wait for a reader whose arrival changed since the
 * writer's look right after its last store of li (and, for fenceless
 * readers, the membarrier that follows it): that arrival loaded li after
 * the store and reads the copy just published. It still waits for (and,
 * past the grace period, evicts) an arrival it saw then. The slot is
 * driven by hand here, as a reader preempted between its arrival and its
 * store of `reading` would leave it. */
static void test_published_arrivals(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_write_info info;
	int fds[MMSYNC_NR_FDS];
	const uint64_t grace = 50000000; /* 50 ms */
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = 1, .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("noted"), &o), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0); /* claims the only slot */
	struct native_slot *slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					fds[MMSYNC_FD_SLOTS], 0);
	assert_true(slot != MAP_FAILED);
	uint64_t n = (atomic_load(&slot->reading) >> 1) + 1000;

	/* Arrived after the publish (a new value), no reading stored: not waited for. */
	assert_int_equal(mmsync_write(w, "two", 3, grace, NULL), 0);
	atomic_store(&slot->arrived, ++n << 1);
	/* (No wait: the time taken, less what this thread waited for a CPU,
	 * is well under the grace period.) */
	struct span t0 = span_start();
	assert_int_equal(mmsync_write(w, "three", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 0);
	assert_true(span_ns(t0) < grace / 2);

	/* The writer saw that arrival after its store of li for "three": at
	 * the next write it waits for it, and evicts it. */
	uint64_t since = now_ns();
	assert_int_equal(mmsync_write(w, "four", 4, grace, &info), 0);
	assert_int_equal(info.evicted, 1);
	assert_true(now_ns() - since >= grace);
	atomic_store(&slot->arrived, 0);

	/* A fenceless reader: the same, the membarrier after the store of li
	 * standing in for its fence (one per publish). */
	struct mmsync_stat st = { .sz = sizeof(st) };
	atomic_store(&slot->mode, SLOT_MODE_FENCELESS);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	uint64_t barriers = st.membarriers;
	assert_int_equal(mmsync_write(w, "six", 3, grace, NULL), 0);
	atomic_store(&slot->arrived, ++n << 1);
	t0 = span_start();
	assert_int_equal(mmsync_write(w, "seven", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 0);
	assert_true(span_ns(t0) < grace / 2);
	assert_int_equal(mmsync_write(w, "eight", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 1);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.membarriers - barriers, 3);
	atomic_store(&slot->arrived, 0);

	munmap(slot, 4096);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* One publish notes a fenced slot in the pass that counts readers and a
 * fenceless one after its membarrier: both arrivals seen then hold up the
 * next write (and are evicted past the grace period); both arrivals made
 * after it do not. The slots are driven by hand. */
static void test_noted_fenced_and_fenceless(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r[2];
	struct mmsync_write_info info;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int fds[MMSYNC_NR_FDS];
	const uint64_t grace = 50000000; /* 50 ms */
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = 2, .flags = MMSYNC_BPF_OFF);
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);

	assert_int_equal(mmsync_writer_create(&w, uniq("noted2"), &o), 0);
	assert_int_equal(mmsync_write(w, "one", 3, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(mmsync_reader_from_fds(&r[i], fds, &fenced), 0);
	struct native_slot *slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
					fds[MMSYNC_FD_SLOTS], 0);
	assert_true(slot != MAP_FAILED);
	atomic_store(&slot[1].mode, SLOT_MODE_FENCELESS);
	assert_int_equal(mmsync_reader_stat(r[0], &st), 0);
	uint64_t barriers = st.membarriers;

	/* Arrived after the waits of "two" (write_begin), before its publish. */
	void *p;
	uint64_t n[2];
	assert_int_equal(mmsync_write_begin(w, 3, grace, &p), 0);
	for (int i = 0; i < 2; i++) {
		n[i] = (atomic_load(&slot[i].reading) >> 1) + 1000;
		atomic_store(&slot[i].arrived, ++n[i] << 1);
	}
	memcpy(p, "two", 3);
	assert_int_equal(mmsync_write_commit(w, 3, NULL), 0);
	uint64_t since = now_ns();
	assert_int_equal(mmsync_write(w, "three", 5, grace, &info), 0);
	assert_int_equal(info.evicted, 2);
	assert_true(now_ns() - since >= grace);

	for (int i = 0; i < 2; i++)
		atomic_store(&slot[i].arrived, ++n[i] << 1); /* after the publish of "three" */
	struct span t0 = span_start();
	assert_int_equal(mmsync_write(w, "four", 4, grace, &info), 0);
	assert_int_equal(info.evicted, 0);
	assert_true(span_ns(t0) < grace / 2);
	assert_int_equal(mmsync_reader_stat(r[0], &st), 0);
	assert_int_equal(st.membarriers - barriers, 3);

	for (int i = 0; i < 2; i++) {
		atomic_store(&slot[i].arrived, 0);
		mmsync_reader_close(r[i]);
	}
	munmap(slot, 4096);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* The inline read path (mmsync_read.h) and the library's
 * (mmsync_read_begin_call) give the same views and the same errors, and
 * either may end what the other began. The inline path hands over what it
 * must not do itself: a payload past what is prefaulted, a new generation,
 * checksums to verify. */
static void view_is(const struct mmsync_view *v, const char *bytes, size_t len, bool switched)
{
	assert_int_equal(v->len, len);
	assert_memory_equal(v->data, bytes, len);
	assert_int_equal(v->len, mmsync_version_size(v->version));
	assert_int_equal(v->switched, switched);
}

static void test_read_paths(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v, v2;
	int fds[MMSYNC_NR_FDS];
	static char big[256 << 10];
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = sizeof(big), .flags = MMSYNC_BPF_OFF);

	assert_int_equal(mmsync_writer_create(&w, uniq("paths"), &o), 0);
	assert_int_equal(mmsync_write(w, "first", 5, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	const struct mmsync_read_fast *f = (const struct mmsync_read_fast *)r;
	assert_int_equal(f->mode & (MMSYNC_FAST_NATIVE | MMSYNC_FAST_CALL), MMSYNC_FAST_NATIVE);

	/* A new handle's count is even with its low 32 bits 0, as an ended or
	 * zeroed view's mark is: that view is still not an open one. */
	struct mmsync_view zero = { 0 };
	assert_int_equal((uint32_t)f->nreads, 0);
	assert_int_equal(mmsync_read_end(r, &zero), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &zero), -EINVAL);
	assert_int_equal(f->nreads & 1, 0);

	/* Same view either way; each ends the other's. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, "first", 5, true);
	assert_int_equal(mmsync_read_end_call(r, &v), 0);
	assert_int_equal(mmsync_read_begin_call(r, &v2), 0);
	view_is(&v2, "first", 5, false);
	assert_int_equal(v2.seq, v.seq);
	assert_int_equal(v2.version, v.version);
	assert_ptr_equal(v2.data, v.data);
	assert_int_equal(mmsync_read_end(r, &v2), 0);

	/* One view at a time, whichever path asks; ends of views not held fail. */
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_read_begin(r, &v2), -EBUSY);
	assert_int_equal(mmsync_read_begin_call(r, &v2), -EBUSY);
	uint32_t mark = v.open_;
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &v), -EINVAL);
	v.open_ = mark; /* a copy of a closed view */
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_end_call(r, &v), -EINVAL);
	assert_int_equal(mmsync_read_begin(r, &v2), 0);
	assert_int_equal(mmsync_read_end(r, &v), -EINVAL); /* not the open one */
	assert_int_equal(mmsync_read_end(r, &v2), 0);
	assert_int_equal(mmsync_read_begin(NULL, &v), -EINVAL);
	assert_int_equal(mmsync_read_begin(r, NULL), -EINVAL);
	assert_int_equal(mmsync_read_end(NULL, &v), -EINVAL);

	/* A payload past what this reader prefaulted: handed over, prefaulted,
	 * read; the next read of it stays inline (nothing left to prefault). */
	uint64_t ready_before = f->ready[0] > f->ready[1] ? f->ready[0] : f->ready[1];
	memset(big, 'b', sizeof(big));
	assert_int_equal(mmsync_write(w, big, sizeof(big), 0, NULL), 0);
	assert_true(ready_before < sizeof(big));
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, big, sizeof(big), true);
	assert_true(f->ready[v.copy_] >= sizeof(big));
	assert_int_equal(mmsync_read_end(r, &v), 0);

	/* Nothing published into the new copies yet: -ENODATA from both. */
	MMSYNC_OPTS(mmsync_native_opts, o2, .capacity = sizeof(big), .flags = MMSYNC_BPF_OFF);
	struct mmsync_writer *w2;
	int fds2[MMSYNC_NR_FDS];
	struct mmsync_reader *r2;
	assert_int_equal(mmsync_writer_create(&w2, uniq("paths-empty"), &o2), 0);
	assert_int_equal(mmsync_writer_export_fds(w2, fds2), 0);
	assert_int_equal(mmsync_reader_from_fds(&r2, fds2, NULL), 0);
	assert_int_equal(mmsync_read_begin(r2, &v), -ENODATA);
	assert_int_equal(mmsync_read_begin_call(r2, &v), -ENODATA);
	assert_int_equal(mmsync_read_end(r2, &v), -EINVAL);
	mmsync_reader_close(r2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds2[i]);
	mmsync_writer_close(w2);

	/* Checksums to verify: every read takes the call, and passes. */
	mmsync_reader_close(r);
	MMSYNC_OPTS(mmsync_reader_opts, verify, .flags = MMSYNC_VERIFY_CHECKSUM);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &verify), -EOPNOTSUPP); /* nothing hashed */
	MMSYNC_OPTS(mmsync_native_opts, o3, .capacity = 4096, .flags = MMSYNC_BPF_OFF | MMSYNC_CHECKSUM);
	assert_int_equal(mmsync_writer_create(&w2, uniq("paths-hash"), &o3), 0);
	assert_int_equal(mmsync_write(w2, "hashed", 6, 0, NULL), 0);
	assert_int_equal(mmsync_writer_export_fds(w2, fds2), 0);
	assert_int_equal(mmsync_reader_from_fds(&r2, fds2, &verify), 0);
	f = (const struct mmsync_read_fast *)r2;
	assert_true(f->mode & MMSYNC_FAST_CALL);
	assert_int_equal(mmsync_read_begin(r2, &v), 0);
	view_is(&v, "hashed", 6, true);
	assert_int_equal(mmsync_read_end(r2, &v), 0);
	mmsync_reader_close(r2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds2[i]);
	mmsync_writer_close(w2);

	/* A fenced reader goes inline too, without the fenceless bit. */
	MMSYNC_OPTS(mmsync_reader_opts, fenced, .flags = MMSYNC_FENCED);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, &fenced), 0);
	f = (const struct mmsync_read_fast *)r;
	assert_int_equal(f->mode, MMSYNC_FAST_NATIVE);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	view_is(&v, big, sizeof(big), true);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* An empty payload in copy 0 without checksums has the version word 0: it
 * is still a version, read as one (it was -ENODATA, "nothing published"). */
static void test_empty_payload(void **unused)
{
	(void)unused;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_write_info info;
	int fds[MMSYNC_NR_FDS];
	uint64_t version;

	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 1 << 16, .flags = MMSYNC_BPF_OFF);
	assert_int_equal(mmsync_writer_create(&w, uniq("empty"), &o), 0);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	assert_int_equal(mmsync_version(r, &version), -ENODATA);
	assert_int_equal(mmsync_read_begin(r, &v), -ENODATA);
	bool word0 = false;
	const size_t lens[] = { 0, 0, 1, 0 }; /* empty in both copies */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mmsync_write(w, "x", lens[i], 0, &info), 0);
		word0 |= info.version == 0;
		assert_int_equal(mmsync_version(r, &version), 0);
		assert_int_equal(version, info.version);
		assert_int_equal(mmsync_read_begin(r, &v), 0);
		assert_int_equal(v.len, lens[i]);
		assert_int_equal(v.seq, info.seq);
		assert_int_equal(v.version, info.version);
		assert_true(v.switched);
		assert_int_equal(mmsync_read_end(r, &v), 0);
	}
	assert_true(word0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_fenceless_accounting),
		test_case(test_table_slot_reuse),
		test_case(test_read_paths),
		test_case(test_published_arrivals),
		test_case(test_noted_fenced_and_fenceless),
		test_case(test_empty_payload),
	};
	return test_run(tests);
}
