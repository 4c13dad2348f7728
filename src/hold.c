/* SPDX-License-Identifier: MIT */
/*
 * Holds on a reader's mappings (mmsync_view_hold()).
 *
 * A binding hands its language's objects a pointer into a view: a Python
 * memoryview or numpy array made inside a read may live on after it. Its
 * bytes are not the version's any more once the read has ended, but the
 * memory must stay mapped: unmapped under it (a new generation, a compat
 * file grown and mapped again, the reader closed) its next access is a
 * SIGSEGV in the interpreter.
 *
 * A mapping nobody holds has no hold object: the reader unmaps it itself,
 * as before. The first hold on a mapping makes one, counting the reader as
 * a holder too, and the reader keeps it beside the mapping (r->hold[c]);
 * from then on whoever lets go last, the reader (hold_unmap()) or a holder
 * (mmsync_hold_release(), from any thread), unmaps it. Further holds on
 * the same mapping only count.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "hold.h"
#include "mmsync.h"
#include "reader.h"

struct mmsync_hold {
	atomic_uint refs;
	void *map;
	size_t len;
};

static void hold_put(struct mmsync_hold *h)
{
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1) {
		munmap(h->map, h->len);
		free(h);
	}
}

void hold_unmap(struct mmsync_hold **hold, const void *map, size_t len)
{
	if (*hold)
		hold_put(*hold);
	else if (map)
		munmap((void *)map, len);
	*hold = NULL;
}

int mmsync_view_hold(struct mmsync_reader *r, const struct mmsync_view *view,
		     struct mmsync_hold **hold)
{
	if (!r || !view || !hold || !(r->f.nreads & 1) || view->open_ != (uint32_t)r->f.nreads ||
	    view->copy_ > 1)
		return -EINVAL;
	if (!view->len) { /* no byte to keep */
		*hold = NULL;
		return 0;
	}
	unsigned c = view->copy_;
	const char *map = r->native ? r->f.copy[c] : r->copy[c].map;
	size_t len = r->native ? (size_t)r->n.capacity : r->copy[c].len;
	const char *p = view->data;
	/* The view must lie in the mapping the reader has for its copy. */
	if (!map || p < map || view->len > len || (size_t)(p - map) > len - view->len)
		return -EINVAL;
	if (!r->hold[c]) {
		struct mmsync_hold *h = malloc(sizeof(*h));
		if (!h)
			return -ENOMEM;
		atomic_init(&h->refs, 1); /* the reader's */
		h->map = (void *)map;
		h->len = len;
		r->hold[c] = h;
	}
	atomic_fetch_add_explicit(&r->hold[c]->refs, 1, memory_order_relaxed);
	*hold = r->hold[c];
	return 0;
}

void mmsync_hold_release(struct mmsync_hold *hold)
{
	if (hold)
		hold_put(hold);
}
