/* SPDX-License-Identifier: MIT */
/* Holds on a view's mapping (mmsync_view_hold()): the memory under a view
 * stays mapped past its read, a new generation, a compat remap and the
 * reader's close, until the last hold is released; unheld, the reader
 * unmaps as before. Whether an address is mapped is asked of mincore(2),
 * which says ENOMEM for an unmapped one instead of faulting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>

#include "harness.h"
#include "native_test.h"

static bool mapped(const void *p)
{
	unsigned char vec;
	long page = sysconf(_SC_PAGESIZE);
	void *base = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
	if (!mincore(base, 1, &vec))
		return true;
	assert_int_equal(errno, ENOMEM);
	return false;
}

/* Opens a view and checks its payload is version @seq's. */
static void view_of(struct mmsync_reader *r, struct mmsync_view *v, uint64_t seq)
{
	uint64_t got = 0;
	assert_int_equal(mmsync_read_begin(r, v), 0);
	assert_true(payload_check(v->data, v->len, &got));
	assert_int_equal(got, seq);
}

static void publish(struct mmsync_writer *w, uint8_t *buf, size_t len, uint64_t seq)
{
	payload_fill(buf, len, seq);
	assert_int_equal(mmsync_write(w, buf, len, 1000000000ull, NULL), 0);
}

/* Native: a held view's copy outlives the generation that replaced it, with
 * its bytes, and the close; it goes with the last release. Unheld, the old
 * copy goes at the take-up. */
static void test_native_generation(void **unused)
{
	(void)unused;
	char sock[64];
	static uint8_t buf[256 << 10];
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_hold *h1, *h2;

	sock_name(sock, sizeof(sock), "hold");
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 64 << 10);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	assert_int_equal(mmsync_writer_create(&w, uniq("hold"), &o), 0);
	assert_int_equal(mmsync_writer_listen(w, sock, &lo), 0);
	publish(w, buf, 4000, 1);
	assert_int_equal(mmsync_reader_connect(&r, sock, NULL), 0);
	view_of(r, &v, 1);
	const uint8_t *old = v.data;
	assert_int_equal(mmsync_view_hold(r, &v, &h1), 0);
	assert_int_equal(mmsync_view_hold(r, &v, &h2), 0);
	assert_ptr_equal(h1, h2); /* one mapping, counted twice */
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_view_hold(r, &v, &h2), -EINVAL); /* ended */

	/* Larger than the capacity: a new generation, taken up at the next read. */
	publish(w, buf, sizeof(buf), 2);
	view_of(r, &v, 2);
	assert_ptr_not_equal(v.data, old);
	assert_true(mapped(old));
	uint64_t seq = 0;
	assert_true(payload_check(old, 4000, &seq)); /* the old copy, as it was */
	assert_int_equal(seq, 1);
	const uint8_t *unheld = v.data;
	assert_int_equal(mmsync_read_end(r, &v), 0);

	mmsync_hold_release(h1);
	assert_true(mapped(old)); /* h2 still holds it */
	mmsync_hold_release(h2);
	assert_false(mapped(old));

	/* Unheld, a generation's copies go when the reader takes up the next. */
	publish(w, buf, 1000, 3);
	publish(w, buf, sizeof(buf), 4); /* same size: no new generation */
	static uint8_t big[512 << 10];
	publish(w, big, sizeof(big), 5);
	view_of(r, &v, 5);
	assert_false(mapped(unheld));
	/* Held at the close: kept until released. */
	const uint8_t *last = v.data;
	assert_int_equal(mmsync_view_hold(r, &v, &h1), 0);
	mmsync_reader_close(r); /* ends the view too */
	assert_true(mapped(last));
	assert_true(payload_check(last, v.len, &seq));
	mmsync_hold_release(h1);
	assert_false(mapped(last));
	mmsync_writer_close(w);
}

static void *release_thread(void *h)
{
	mmsync_hold_release(h);
	return NULL;
}

/* Compat: a copy's file grown under a held view is mapped again, the held
 * mapping stays; the close keeps it too, and a release from another thread
 * unmaps it. */
static void test_compat_remap(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_hold *h, *h0;
	static uint8_t buf[1 << 20];

	tmp_prefix_make(&t, "hold");
	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	publish(w, buf, 100, 1); /* copy 0 */
	view_of(r, &v, 1);
	const uint8_t *old = v.data;
	assert_int_equal(mmsync_view_hold(r, &v, &h0), 0);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	publish(w, buf, 100, 2); /* copy 1 */
	publish(w, buf, sizeof(buf), 3); /* copy 0, grown: mapped again */
	view_of(r, &v, 3);
	assert_ptr_not_equal(v.data, old);
	assert_true(mapped(old));
	assert_int_equal(mmsync_view_hold(r, &v, &h), 0);
	assert_ptr_not_equal(h, h0);
	const uint8_t *cur = v.data;
	mmsync_reader_close(r);
	assert_true(mapped(cur));
	uint64_t seq = 0;
	assert_true(payload_check(cur, sizeof(buf), &seq));
	assert_int_equal(seq, 3);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, release_thread, h), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(mapped(cur));
	mmsync_hold_release(h0);
	assert_false(mapped(old));

	/* Unheld, the grown file's old mapping goes at the remap. */
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	view_of(r, &v, 3);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	publish(w, buf, 100, 4);
	view_of(r, &v, 4);
	old = v.data;
	assert_int_equal(mmsync_read_end(r, &v), 0);
	publish(w, buf, 100, 5);
	static uint8_t big[2 << 20];
	publish(w, big, sizeof(big), 6); /* copy 1, grown */
	view_of(r, &v, 6);
	assert_false(mapped(old));
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

static void test_errors(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v, other;
	struct mmsync_hold *h = (void *)1;

	tmp_prefix_make(&t, "hold-errors");
	assert_int_equal(mmsync_writer_open(&w, t.prefix, NULL), 0);
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	assert_int_equal(mmsync_view_hold(NULL, &v, &h), -EINVAL);
	assert_int_equal(mmsync_write(w, "", 0, 0, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(mmsync_view_hold(r, NULL, &h), -EINVAL);
	assert_int_equal(mmsync_view_hold(r, &v, NULL), -EINVAL);
	assert_int_equal(mmsync_view_hold(r, &v, &h), 0); /* 0 bytes: nothing held */
	assert_null(h);
	mmsync_hold_release(NULL);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	assert_int_equal(mmsync_write(w, "abcdef", 6, 0, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	other = v;
	other.open_ ^= 2; /* not the open view */
	assert_int_equal(mmsync_view_hold(r, &other, &h), -EINVAL);
	other = v;
	other.data = (const char *)v.data + 4096 * 1024; /* outside the mapping */
	assert_int_equal(mmsync_view_hold(r, &other, &h), -EINVAL);
	other = v;
	other.copy_ = 7;
	assert_int_equal(mmsync_view_hold(r, &other, &h), -EINVAL);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	tmp_prefix_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_native_generation),
		test_case(test_compat_remap),
		test_case(test_errors),
	};
	return test_run(tests);
}
