/* SPDX-License-Identifier: MIT */
/*
 * The native read path, inline: mmsync_read_begin() and mmsync_read_end()
 * cost a few loads and stores in the caller, not a call into the library.
 * Included by mmsync.h; not to be included on its own. Anything but the
 * common case (the compat layout, checksums to verify, new copies to take
 * up, pages to prefault, an error) goes to mmsync_read_begin_call() and
 * mmsync_read_end_call(), which do the whole job (src/reader.c, src/native_reader.c).
 *
 * The protocol's steps are written up once, in docs/protocol.md of the
 * source (installed in share/doc/mmsync); tests/protocol.pml checks them.
 * The reader's side, as the code below takes it:
 *
 *   begin: LOAD-COUNT  e0 = slot.evictions                  acquire
 *          ARRIVE      slot.arrived = (n << 1) | vi         exchange (fenceless:
 *                                                          a plain store)
 *          LOAD-COPY   c = li; d = desc[c]
 *          DECLARE     slot.reading = (n << 1) | c          relaxed
 *   end:   DEPART      slot.arrived = 0                     release
 *          CHECK       acquire fence; slot.evictions != e0  -> -ESTALE
 *
 *   A descriptor of another generation, a size past what is mapped and
 *   prefaulted, a count other than the last one the handle knew: the
 *   reader departs and takes the call (TAKE-UP, SEE-COUNT), which starts
 *   the read again.
 *
 * The compat layout's reader, inline too once its state file is mapped:
 *
 *   begin: LOAD-VERSION v = version; COUNT readers[idx(v)] += 1;
 *          RECHECK version == v, else the count is dropped and the call
 *          starts again; a version word whose size the library has not
 *          checked against its file also takes the call.
 *   end:   UNCOUNT: version names the view's copy with another word
 *          -> -ESTALE; else readers[idx] -= 1, never below 0 (-ESTALE).
 */
#ifndef MMSYNC_READ_H
#define MMSYNC_READ_H

#ifndef MMSYNC_H
#error "include <mmsync.h>, not <mmsync_read.h>"
#endif

/* mmsync_read_fast.mode */
enum {
	/* A native reader, set up. Bit 0 named it under a protocol whose
	 * eviction relied on the writer's membarrier: the library leaves it
	 * clear, so programs built with that header take the library's path. */
	MMSYNC_FAST_NATIVE = 1u << 3,
	MMSYNC_FAST_FENCELESS = 1u << 1,	/* registered with membarrier: no fence */
	MMSYNC_FAST_CALL = 1u << 2,		/* every read takes the call (checksums) */
	MMSYNC_FAST_COMPAT = 1u << 4,		/* a compat reader whose state file is mapped */
};

/*
 * What the inline read path touches. Every reader handle begins with one;
 * the library fills it and callers leave it alone. Part of the ABI, as the
 * protocol above is (programs compile it in): fields are only ever added at
 * the end, and a library whose readers need another path sets
 * MMSYNC_FAST_CALL, which sends every read of programs built against this
 * header to the library.
 */
struct mmsync_read_fast {
	uint32_t mode;			/* MMSYNC_FAST_* */
	uint32_t reserved_;		/* (a word of its own for mode: see nreads) */
	/* Counts begins and ends: odd while a view is open, and each arrival
	 * stores a value of it never stored before ((n << 1) | vi). Its own
	 * 8 bytes: a compiler that merged loads of it and a 4-byte field would
	 * load 8 bytes after a 4-byte store, which the store buffer cannot
	 * forward (measured: +8 ns a read). */
	uint64_t nreads;
	uint64_t evictions;		/* the slot's eviction count when the view began */
	uint64_t generation;		/* of the copies mapped */
	uint64_t last_key;		/* native: seq of the previous read; compat: version */
	const uint32_t *vi, *li;	/* the header's words */
	const uint64_t *desc[2];	/* per copy: version word, seq, generation */
	uint64_t *arrived, *reading;	/* this reader's slot */
	const uint64_t *slot_evictions;
	const void *copy[2];		/* the mappings of the copies */
	uint64_t ready[2];		/* bytes of each copy mapped and prefaulted */
	uint64_t known_evictions;	/* the slot's count as the library last saw it */
	/* compat: the state file's words; per copy, the version word whose
	 * size was checked against the file (0: none); the open view's copy */
	uint64_t *version;
	uint32_t *counts;
	uint64_t checked[2];
	uint64_t held;
};

/**
 * mmsync_read_begin_call() - mmsync_read_begin(), all of it, in the library
 *
 * What the inline function calls when the common case does not hold, and
 * what a binding without the inline functions calls. Same arguments and
 * return values as mmsync_read_begin().
 */
MMSYNC_API int mmsync_read_begin_call(struct mmsync_reader *r, struct mmsync_view *view);

/**
 * mmsync_read_end_call() - mmsync_read_end(), all of it, in the library
 *
 * Same arguments and return values as mmsync_read_end().
 */
MMSYNC_API int mmsync_read_end_call(struct mmsync_reader *r, struct mmsync_view *view);

/* Arrives on the indicator with the number f->nreads (odd: a view is being
 * opened) and returns the copy to read. Begin's first half, shared with
 * the library's own path. */
static inline unsigned mmsync_arrive_(struct mmsync_read_fast *f)
{
	/* LOAD-COUNT. Acquire: a count bumped after the writer saw this
	 * arrival is never the one loaded here. */
	f->evictions = __atomic_load_n(f->slot_evictions, __ATOMIC_ACQUIRE);
	uint64_t a = f->nreads << 1 | (__atomic_load_n(f->vi, __ATOMIC_RELAXED) & 1);
	/* ARRIVE, then LOAD-COPY's load of li. */
	if (f->mode & MMSYNC_FAST_FENCELESS) {
		/* The writer's BARRIER, between its PUBLISH and its NOTE,
		 * stands in for the fence. */
		__atomic_store_n(f->arrived, a, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return __atomic_load_n(f->li, __ATOMIC_ACQUIRE) & 1;
	}
	__atomic_exchange_n(f->arrived, a, __ATOMIC_SEQ_CST); /* the arrival, then a full fence */
	return __atomic_load_n(f->li, __ATOMIC_SEQ_CST) & 1;
}

/* CHECK's load: the slot's eviction count after every load of the view
 * before it, a seqlock's read side. An acquire fence does it at no cost on x86.
 * ThreadSanitizer models no fence (GCC refuses one under it): there a
 * read-modify-write that adds nothing does the same, being ordered with
 * the writer's bump in the count's modification order. */
static inline uint64_t mmsync_evictions_after_view_(struct mmsync_read_fast *f)
{
#if defined(__SANITIZE_THREAD__)
	return __atomic_fetch_add((uint64_t *)f->slot_evictions, 0, __ATOMIC_ACQ_REL);
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return __atomic_fetch_add((uint64_t *)f->slot_evictions, 0, __ATOMIC_ACQ_REL);
#endif
#endif
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(f->slot_evictions, __ATOMIC_RELAXED);
}

/* DEPART */
static inline void mmsync_depart_(struct mmsync_read_fast *f)
{
	__atomic_store_n(f->arrived, 0, __ATOMIC_RELEASE);
}

/* End's second half, shared with the library's own path: departs, closes
 * the view's number, and says whether the writer evicted this reader. */
static inline int mmsync_leave_(struct mmsync_read_fast *f)
{
	mmsync_depart_(f);
	f->nreads++;
	/* A view that saw a byte the writer wrote after bumping the count sees
	 * the bump. (The release store above alone would let the load of the
	 * count rise above the view's loads.) */
	return mmsync_evictions_after_view_(f) == f->evictions ? 0 : -ESTALE;
}

/* UNCOUNT's decrement, never below 0: 0 means the writer reset the count. */
static inline int mmsync_uncount_(uint32_t *count)
{
	uint32_t n = __atomic_load_n(count, __ATOMIC_SEQ_CST);
	do {
		if (!n)
			return -ESTALE;
	} while (!__atomic_compare_exchange_n(count, &n, n - 1, 1, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return 0;
}

/* The compat layout's begin, or the call. */
static inline int mmsync_compat_begin_(struct mmsync_reader *r, struct mmsync_view *view)
{
	struct mmsync_read_fast *f = (struct mmsync_read_fast *)r;

	if ((f->mode & (MMSYNC_FAST_COMPAT | MMSYNC_FAST_CALL)) != MMSYNC_FAST_COMPAT ||
	    (f->nreads & 1))
		return mmsync_read_begin_call(r, view);
	uint64_t v = __atomic_load_n(f->version, __ATOMIC_SEQ_CST); /* LOAD-VERSION */
	unsigned idx = (unsigned)(v & 1);
	if (__builtin_expect(!v || v != f->checked[idx], 0))
		return mmsync_read_begin_call(r, view);
	__atomic_fetch_add(&f->counts[idx], 1, __ATOMIC_SEQ_CST); /* COUNT */
	if (__builtin_expect(__atomic_load_n(f->version, __ATOMIC_SEQ_CST) != v, 0)) { /* RECHECK */
		mmsync_uncount_(&f->counts[idx]);
		return mmsync_read_begin_call(r, view);
	}
	f->nreads++;
	volatile struct mmsync_view *out = view; /* a field at a time: see mmsync_read_begin() */
	out->data = f->copy[idx];
	out->len = (size_t)((v >> 1) & MMSYNC_MAX_PAYLOAD);
	out->version = v;
	out->seq = 0;
	out->switched = v != f->last_key;
	out->copy_ = idx;
	out->open_ = (uint32_t)f->nreads;
	f->last_key = v;
	f->held = idx;
	return 0;
}

static inline int mmsync_read_begin(struct mmsync_reader *r, struct mmsync_view *view)
{
	struct mmsync_read_fast *f = (struct mmsync_read_fast *)r;

	if (__builtin_expect(!r || !view || (f->mode & (MMSYNC_FAST_NATIVE | MMSYNC_FAST_CALL)) !=
					     MMSYNC_FAST_NATIVE || (f->nreads & 1), 0))
		return r && view ? mmsync_compat_begin_(r, view) : mmsync_read_begin_call(r, view);
	f->nreads++;
	unsigned c = mmsync_arrive_(f);
	/* The writer does not touch desc[c] while we are arrived: plain loads,
	 * through volatile so that each is made once. */
	const volatile uint64_t *d = f->desc[c];
	uint64_t version = d[0], seq = d[1], generation = d[2];
	uint64_t size = (version >> 1) & MMSYNC_MAX_PAYLOAD;
	if (__builtin_expect(generation != f->generation || !version || (version & 1) != c ||
			     size > f->ready[c] || f->evictions != f->known_evictions, 0)) {
		mmsync_depart_(f);
		f->nreads++;
		return mmsync_read_begin_call(r, view);
	}
	__atomic_store_n(f->reading, f->nreads << 1 | c, __ATOMIC_RELAXED); /* DECLARE */
	/* The caller's view, a field at a time: through volatile, so that no
	 * compiler merges neighbours into one wider store. GCC made len and
	 * version one 16-byte store at view+8, which straddles two pages when
	 * the view sits in a page's last 16 bytes: +8-11 ns a read, fenced or
	 * not, in one process in 256 (the stack's offset is random; see
	 * tools/bench/read_spread.c). An aligned field never crosses a page. */
	volatile struct mmsync_view *out = view;
	out->data = f->copy[c];
	out->len = (size_t)size;
	out->version = version;
	out->seq = seq;
	out->switched = seq != f->last_key;
	out->copy_ = c;
	out->open_ = (uint32_t)f->nreads; /* odd: never 0, and this view's own */
	f->last_key = seq;
	return 0;
}

static inline int mmsync_read_end(struct mmsync_reader *r, struct mmsync_view *view)
{
	struct mmsync_read_fast *f = (struct mmsync_read_fast *)r;

	/* The open view's number, odd, matches only while it is open: an
	 * ended or zeroed view (0) never does, nor an older one. */
	if (__builtin_expect(!r || !view || !(f->mode & MMSYNC_FAST_NATIVE) || !(view->open_ & 1) ||
			     view->open_ != (uint32_t)f->nreads, 0)) {
		if (!r || !view || !(f->mode & MMSYNC_FAST_COMPAT) || !(view->open_ & 1) ||
		    view->open_ != (uint32_t)f->nreads)
			return mmsync_read_end_call(r, view);
		/* compat: the open view's copy and word as begin left them */
		view->open_ = 0;
		f->nreads++;
		uint64_t w = __atomic_load_n(f->version, __ATOMIC_SEQ_CST);
		if ((w & 1) == f->held && w != f->last_key)
			return -ESTALE; /* republished under the view: the count is not ours */
		return mmsync_uncount_(&f->counts[f->held]);
	}
	view->open_ = 0;
	return mmsync_leave_(f);
}

#endif /* MMSYNC_READ_H */
