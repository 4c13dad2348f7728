/* SPDX-License-Identifier: MIT */
/*
 * The read path, both layouts: mmsync_read_begin() and mmsync_read_end().
 *
 * Native layout: the protocol and its common case are inline, in
 * include/mmsync_read.h; what the inline functions hand over is finished
 * here (native_begin): taking up copies of a new generation, prefaulting a
 * payload that grew, verifying checksums, and the errors.
 *   Sizes come from the sealed, fstat-checked capacity: a descriptor saying
 *   more gives -EBADMSG, never an access past the mapping.
 *
 * Compat layout (mmap-sync's files):
 *   begin: v = load(version)                  0: nothing published (-ENODATA)
 *          readers[idx(v)] += 1
 *          if load(version) != v: readers[idx(v)] -= 1, start again
 *          map PREFIX_data_idx if needed (its size checked first: no SIGBUS)
 *   end:   w = load(version)
 *          idx(w) == idx and w != v: copy idx was republished since begin,
 *            so its bytes were overwritten under us: -ESTALE, and no
 *            decrement (the writer reset our count; what is there now is
 *            other readers')
 *          else readers[idx] -= 1, never below 0: a count at 0 was reset
 *            (-ESTALE)
 *
 *   What end cannot see: a copy republished and then the other copy
 *   published again (w names the other copy). After a reset, such a stale
 *   reader's decrement takes a count a later reader of the copy holds, and
 *   the next write overwrites that reader at once. The layout gives a count
 *   no owner, so no check of the version word closes this (tests/compat.pml
 *   finds it); MMSYNC_NO_RESET, which never resets, does.
 *
 *   The re-check after the increment is what mmap-sync itself lacks: without
 *   it a reader can load v, be preempted while the writer publishes twice
 *   (the second time over copy idx(v), whose count was still 0), and then
 *   read a copy that is being written. All operations are seq_cst: the
 *   writer's "check count, then write" and the reader's "count, then check
 *   version" must not be reordered. Cost while the version is unchanged: two
 *   atomic RMWs and two loads, no system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compat_layout.h"
#include "hash.h"
#include "mmsync.h"
#include "opts.h"
#include "reader.h"
#include "stat.h"

struct mmsync_reader *reader_alloc(void)
{
	struct mmsync_reader *r = calloc(1, sizeof(*r));
	if (r) {
		r->state_fd = r->copy[0].fd = r->copy[1].fd = -1;
		r->n.slot_fd = r->n.conn = r->n.state_fd = -1;
	}
	return r;
}

int mmsync_reader_open(struct mmsync_reader **rp, const char *prefix,
		       const struct mmsync_reader_opts *opts)
{
	if (!rp)
		return -EINVAL;
	*rp = NULL;
	if (!opts_valid(opts, sizeof(*opts)))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (flags & ~MMSYNC_VERIFY_CHECKSUM)
		return -EINVAL;
	int err = compat_prefix_valid(prefix);
	if (err)
		return err;

	struct mmsync_reader *r = reader_alloc();
	if (!r)
		return -ENOMEM;
	r->prefix = strdup(prefix);
	if (!r->prefix) {
		free(r);
		return -ENOMEM;
	}
	r->flags = flags;
	*rp = r;
	return 0;
}

static void copy_unmap(struct compat_map *c)
{
	if (c->map)
		munmap((void *)c->map, c->len);
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct compat_map){ .fd = -1 };
}

void mmsync_reader_close(struct mmsync_reader *r)
{
	if (!r)
		return;
	if (r->f.nreads & 1) {
		struct mmsync_view v = { .copy_ = r->held_copy, .open_ = (uint32_t)r->f.nreads };
		mmsync_read_end_call(r, &v);
	}
	copy_unmap(&r->copy[0]);
	copy_unmap(&r->copy[1]);
	native_reader_release(r);
	if (r->state)
		munmap(r->state, sizeof(*r->state));
	if (r->state_fd >= 0)
		close(r->state_fd);
	free(r->prefix);
	free(r);
}

/* Maps the state file the first time it is there. Readers need it writable:
 * their counts live in it. */
static int state_map(struct mmsync_reader *r)
{
	char path[PATH_MAX];
	int err;

	if (r->state)
		return 0;
	if ((err = compat_path(path, r->prefix, COMPAT_STATE)))
		return err;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = compat_state_check(fd);
	if (!err) {
		void *p = mmap(NULL, sizeof(*r->state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			err = -errno;
		} else {
			r->state = p;
			r->state_fd = fd;
			return 0;
		}
	}
	close(fd);
	return err;
}

/* Makes the first size(v) bytes of copy idx(v) safe to touch. Checked once
 * per version word: data files only grow, and a writer replaces the bytes
 * of a copy only after readers have left it. */
static int copy_map(struct mmsync_reader *r, uint64_t v)
{
	struct compat_map *c = &r->copy[mmsync_version_idx(v)];
	uint64_t size = mmsync_version_size(v), fsize;
	int err;

	if (c->checked == v)
		return 0;
	if (c->fd < 0) {
		char path[PATH_MAX];
		if ((err = compat_path(path, r->prefix, (enum compat_file)mmsync_version_idx(v))))
			return err;
		c->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (c->fd < 0)
			return errno == ENOENT ? -EBADMSG : -errno;
	}
	if ((err = compat_data_check(c->fd, size, &fsize)))
		return err;
	if (size > c->len) {
		if (c->map)
			munmap((void *)c->map, c->len);
		c->map = NULL;
		c->len = 0;
		void *p = mmap(NULL, fsize, PROT_READ, MAP_SHARED, c->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		c->map = p;
		c->len = fsize;
	}
	c->checked = v;
	return 0;
}

/* Drops a count without wrapping it: 0 means the writer reset it. A count
 * wrapped to 2^32 - 1 would hold every later write for a grace period and
 * then be reset, with the harm a reset does. */
static int release(struct compat_state *s, unsigned idx)
{
	uint32_t n = atomic_load(&s->readers[idx]);
	do {
		if (!n)
			return -ESTALE;
	} while (!atomic_compare_exchange_weak(&s->readers[idx], &n, n - 1));
	return 0;
}

/* Takes a count on the copy the version word points at, re-checking that it
 * still does. Return: 0 with *vp set, or -ENODATA. */
static int acquire(struct compat_state *s, uint64_t *vp)
{
	for (;;) {
		uint64_t v = atomic_load(&s->version);
		if (!v)
			return -ENODATA;
		atomic_fetch_add(&s->readers[mmsync_version_idx(v)], 1);
		if (atomic_load(&s->version) == v) {
			*vp = v;
			return 0;
		}
		/* Backing off: the writer may have reset the count meanwhile. */
		release(s, mmsync_version_idx(v));
	}
}

/* read_end of a compat view of version @v on copy @idx. */
static int compat_end(struct compat_state *s, unsigned idx, uint64_t v)
{
	uint64_t w = atomic_load(&s->version);
	if (mmsync_version_idx(w) == idx && w != v)
		return -ESTALE; /* republished under us: the count is not ours */
	return release(s, idx);
}

static int verify(const struct mmsync_reader *r, const void *data, uint64_t size, uint64_t v)
{
	if ((r->flags & MMSYNC_VERIFY_CHECKSUM) &&
	    (mmsync_hash(data, size) & 0xffffff) != mmsync_version_checksum(v))
		return -EBADMSG;
	return 0;
}

static const char empty_payload[1];

static int compat_begin(struct mmsync_reader *r, struct mmsync_view *view)
{
	uint64_t v;
	int err;

	if ((err = state_map(r)))
		return err;
	if ((err = acquire(r->state, &v)))
		return err;

	unsigned idx = mmsync_version_idx(v);
	uint64_t size = mmsync_version_size(v);
	const void *data = empty_payload;
	if (size) {
		if ((err = copy_map(r, v)))
			goto fail;
		data = r->copy[idx].map;
	}
	if ((err = verify(r, data, size, v)))
		goto fail;
	*view = (struct mmsync_view){
		.data = data, .len = size, .version = v, .copy_ = idx,
	};
	return 0;
fail:
	release(r->state, idx);
	return err;
}

/* The inline path's (mmsync_read.h) and more: new copies, a payload that
 * grew, checksums, a changed eviction count, errors. */
static int native_begin(struct mmsync_reader *r, struct mmsync_view *view)
{
	struct mmsync_read_fast *f = &r->f;
	const struct native_header *h = r->n.h;
	struct native_copy_desc d;
	unsigned c;
	int err;

	for (;;) {
		c = mmsync_arrive_(f);
		if (f->evictions != f->known_evictions) {
			/* Evicted or revoked since the last look: a revoked
			 * reader is told, and a fenceless one turns fenced
			 * when the writer has lost its barrier. */
			mmsync_depart_(f);
			if ((err = native_evictions_seen(r)))
				return err;
			f->nreads += 2;
			continue;
		}
		/* The writer does not touch copy[c] while we are arrived: plain
		 * loads, through volatile so that each is made once. */
		const volatile struct native_copy_desc *vd = &h->copy[c];
		d = (struct native_copy_desc){ vd->version, vd->seq, vd->generation };
		if (d.generation == f->generation)
			break;
		/* Copies of another generation: take them up, then arrive again
		 * (with a new number, still odd). */
		mmsync_depart_(f);
		if ((err = native_refresh(r, d.generation)))
			/* A reader revoked as the generation changed was sent no
			 * copies: the mark, set before li moved, says why. */
			return atomic_load(&r->n.slot->revoked) ? -ECONNRESET : err;
		f->nreads += 2;
	}
	uint64_t size = mmsync_version_size(d.version);
	if (!d.version)
		err = -ENODATA;
	else if (size > r->n.capacity || mmsync_version_idx(d.version) != c)
		err = -EBADMSG; /* never touch what the mapping does not hold */
	else {
		if (size > f->ready[c])
			native_populate(r, c); /* the payloads grew: one system call */
		err = verify(r, f->copy[c], size, d.version);
	}
	if (err) {
		mmsync_depart_(f);
		return err;
	}
	atomic_store_explicit((_Atomic uint64_t *)f->reading, f->nreads << 1 | c,
			      memory_order_relaxed);
	*view = (struct mmsync_view){
		.data = f->copy[c], .len = size, .version = d.version, .seq = d.seq, .copy_ = c,
	};
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
		return err;
	}
	/* native: each publish has its own sequence number, even of equal bytes */
	uint64_t key = r->native ? view->seq : view->version;
	view->switched = key != r->f.last_key;
	view->open_ = (uint32_t)r->f.nreads;
	r->f.last_key = key;
	r->held_copy = view->copy_;
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
	return compat_end(r->state, r->held_copy, r->f.last_key);
}

int mmsync_reader_check(struct mmsync_reader *r)
{
	if (!r)
		return -EINVAL;
	if (!r->native)
		return -EOPNOTSUPP;
	/* The writer holds a write lock on the header's first byte, on its
	 * own open file description, for as long as it lives. */
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(r->n.state_fd, F_OFD_GETLK, &fl))
		return -errno;
	if (fl.l_type == F_UNLCK)
		return -EPIPE;
	return atomic_load(&r->n.slot->revoked) ? -ECONNRESET : 0;
}

int mmsync_version(struct mmsync_reader *r, uint64_t *version)
{
	if (!r || !version)
		return -EINVAL;
	if (r->native) {
		*version = atomic_load(&r->n.h->version);
		return *version ? 0 : -ENODATA;
	}
	int err = state_map(r);
	if (err)
		return err;
	*version = atomic_load(&r->state->version);
	return *version ? 0 : -ENODATA;
}

void stat_from_header(const struct native_header *h, struct mmsync_stat *st)
{
	/* The writer's figures: single words, each consistent on its own. */
	size_t sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct mmsync_stat s = { .sz = sz, .native = true };
	s.version = atomic_load(&h->version);
	s.idx = mmsync_version_idx(s.version);
	s.size = mmsync_version_size(s.version);
	s.checksum = mmsync_version_checksum(s.version);
	s.seq = atomic_load(&h->seq);
	s.generation = atomic_load(&h->generation);
	s.capacity = atomic_load(&h->capacity);
	s.max_readers = h->max_readers;
	s.readers[0] = atomic_load(&h->readers[0]);
	s.readers[1] = atomic_load(&h->readers[1]);
	s.live_slots = atomic_load(&h->live_slots);
	s.evictions = atomic_load(&h->evictions);
	s.reclaimed = atomic_load(&h->reclaimed);
	s.last_publish_ns = atomic_load(&h->last_publish_ns);
	s.writer_pid = (int32_t)atomic_load(&h->writer_pid);
	s.membarriers = atomic_load(&h->membarriers);
	s.membarrier_failures = atomic_load(&h->membarrier_failures);
	memcpy(s.name, h->name, sizeof(s.name));
	s.name[sizeof(s.name) - 1] = 0;
	memcpy(st, &s, sz);
}

int mmsync_reader_stat(struct mmsync_reader *r, struct mmsync_stat *st)
{
	if (!r || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
	if (r->native) {
		stat_from_header(r->n.h, st);
		return 0;
	}
	int err = state_map(r);
	if (err)
		return err;
	size_t sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct mmsync_stat s = { .sz = sz };
	s.version = atomic_load(&r->state->version);
	s.idx = mmsync_version_idx(s.version);
	s.size = mmsync_version_size(s.version);
	s.checksum = mmsync_version_checksum(s.version);
	s.readers[0] = atomic_load(&r->state->readers[0]);
	s.readers[1] = atomic_load(&r->state->readers[1]);
	memcpy(st, &s, sz);
	return 0;
}
