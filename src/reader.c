/* SPDX-License-Identifier: MIT */
/*
 * The reader's public front: the library's half of the read path
 * (mmsync_read_begin_call/end_call, which the inline functions of
 * include/mmsync_read.h call when they cannot finish a read alone), the
 * handle's life and its figures, each handed to the compat reader
 * (compat_reader.c) or the native one (native_reader.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "metrics.h"
#include "mmsync.h"
#include "reader.h"

/*
 * The handle alone in a page, at half of it: a page offset of the
 * library's choosing, not the heap's. A load after a store to another
 * address with the same low 12 bits waits for the store (4 KiB aliasing),
 * and the inline read path mixes the handle's fields with the slot's
 * words (0 of a socket reader's slot page), the header's read line
 * (0x80-0xb7) and the payload (0 of a copy): calloc'ed wherever the
 * program's heap had room, a handle on those offsets read slower
 * (fenceless, +0.2-0.4 ns of 4.3; tools/bench/read_spread.c --walk handle).
 * At 0x800 it meets none of them (a table reader's slot, at 64 * i, only
 * in slots 32-34 of each 64), and no other object's writes share its lines.
 */
struct mmsync_reader *reader_alloc(void)
{
	unsigned char *page = aligned_alloc(READER_PAGE, READER_PAGE);
	if (!page)
		return NULL;
	memset(page, 0, READER_PAGE);
	struct mmsync_reader *r = (struct mmsync_reader *)(page + READER_PAGE_OFFSET);
	r->state_fd = r->copy[0].fd = r->copy[1].fd = -1;
	r->n.slot_fd = r->n.conn = r->n.state_fd = -1;
	r->watch_fd = r->self_fd = -1;
	return r;
}

void reader_free(struct mmsync_reader *r)
{
	if (r)
		free((unsigned char *)r - READER_PAGE_OFFSET);
}

void mmsync_reader_close(struct mmsync_reader *r)
{
	if (!r)
		return;
	if (r->f.nreads & 1) {
		struct mmsync_view v = { .copy_ = (uint32_t)r->f.held, .open_ = (uint32_t)r->f.nreads };
		mmsync_read_end_call(r, &v);
	}
	watch_close(r);
	compat_reader_release(r);
	native_reader_release(r);
	reader_free(r);
}

int reader_verify(const struct mmsync_reader *r, const void *data, uint64_t size, uint64_t v)
{
	if ((r->flags & MMSYNC_VERIFY_CHECKSUM) &&
	    (mmsync_hash(data, size) & 0xffffff) != mmsync_version_checksum(v))
		return -EBADMSG;
	return 0;
}

int mmsync_read_begin_call(struct mmsync_reader *r, struct mmsync_view *view)
{
	if (!r || !view)
		return -EINVAL;
	if (r->f.nreads & 1)
		return -EBUSY;
	r->f.nreads++; /* odd: a view is being opened */
	int err = r->native ? native_begin(r, view) : compat_begin(r, view);
	if (err) {
		r->f.nreads++;
		if (err == -ENODATA && r->watch_fd >= 0)
			watch_rearm(r); /* nothing yet: armed for the first */
		return err;
	}
	/* native: each publish has its own sequence number, even of equal bytes */
	uint64_t key = r->native ? view->seq : view->version;
	view->switched = key != r->f.last_key;
	view->open_ = (uint32_t)r->f.nreads;
	r->f.last_key = key;
	r->f.held = view->copy_;
	if (r->watch_fd >= 0)
		watch_rearm(r);
	return 0;
}

int mmsync_read_end_call(struct mmsync_reader *r, struct mmsync_view *view)
{
	/* The open view's number matches only while it is open (odd). */
	if (!r || !view || view->open_ != (uint32_t)r->f.nreads || !(r->f.nreads & 1))
		return -EINVAL;
	view->open_ = 0;
	if (r->native)
		return mmsync_leave_(&r->f);
	r->f.nreads++;
	/* The open view's copy and version word as begin left them, not the
	 * caller's copy of them in @view. */
	return compat_end(r, (unsigned)r->f.held, r->f.last_key);
}

int mmsync_reader_check(struct mmsync_reader *r)
{
	if (!r)
		return -EINVAL;
	return r->native ? native_reader_check(r) : -EOPNOTSUPP;
}

int mmsync_version(struct mmsync_reader *r, uint64_t *version)
{
	if (!r || !version)
		return -EINVAL;
	if (!r->native)
		return compat_version(r, version);
	/* seq first: a version word of 0 (an empty payload in copy 0, no
	 * checksum) is a version once anything was published. */
	if (!atomic_load(&r->n.h->seq))
		return -ENODATA;
	*version = atomic_load(&r->n.h->version);
	return 0;
}

int mmsync_reader_stat(struct mmsync_reader *r, struct mmsync_stat *st)
{
	if (!r || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
	if (!r->native)
		return compat_stat(r, st);
	stat_from_header(r->n.h, st);
	return 0;
}
