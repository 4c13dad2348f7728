/* SPDX-License-Identifier: MIT */
/*
 * The reader of the compat layout (mmap-sync's files): counts on the copy
 * it reads, kept in the state file the writer waits on. Its steps
 * (docs/protocol.md, compat layout):
 *
 *   begin: LOAD-VERSION  v = load(version)       0: nothing published (-ENODATA)
 *          COUNT         readers[idx(v)] += 1
 *          RECHECK       load(version) != v: readers[idx(v)] -= 1, start again
 *          map PREFIX_data_idx if needed (its size checked first: no SIGBUS)
 *   end:   UNCOUNT       w = load(version)
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

#include "compat_layout.h"
#include "metrics.h"
#include "mmsync.h"
#include "opts.h"
#include "reader.h"

int mmsync_reader_open(struct mmsync_reader **rp, const char *prefix,
		       const struct mmsync_reader_opts *opts)
{
	if (!rp)
		return -EINVAL;
	*rp = NULL;
	struct log l = OPTS_LOG(opts, prefix);
	if (opts_check(opts, sizeof(*opts), &l, "mmsync_reader_open", "mmsync_reader_opts"))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (opts_flags_check(flags, MMSYNC_VERIFY_CHECKSUM, &l, "mmsync_reader_open",
			     "mmsync_reader_opts"))
		return -EINVAL;
	int err = compat_prefix_valid(prefix);
	if (err)
		return err;

	struct mmsync_reader *r = reader_alloc();
	if (!r)
		return -ENOMEM;
	r->prefix = strdup(prefix);
	if (!r->prefix) {
		reader_free(r);
		return -ENOMEM;
	}
	r->flags = flags;
	r->trust = (struct compat_trust){
		.uid = OPTS_GET(opts, trust_uid, 0),
		.log = { OPTS_GET(opts, log, NULL), OPTS_GET(opts, log_ctx, NULL), r->prefix },
	};
	*rp = r;
	return 0;
}

static void copy_unmap(struct compat_map *c, struct mmsync_hold **hold)
{
	hold_unmap(hold, c->map, c->len);
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct compat_map){ .fd = -1 };
}

/* Faults @len bytes of a mapping in now: -ENOSPC where a page cannot be
 * had (a hole on a full file system), instead of a SIGBUS at the access.
 * Kernels before 5.14 lack it: the access is then the first touch. */
static int populate(void *p, size_t len, int advice)
{
	if (!madvise(p, len, advice))
		return 0;
	if (errno == EINVAL)
		return 0;
	return errno == EFAULT ? -ENOSPC : -errno;
}

/* Maps the state file the first time it is there. Readers need it writable:
 * their counts live in it. */
int compat_state_map(struct mmsync_reader *r)
{
	char path[PATH_MAX];
	int err;

	if (r->state)
		return 0;
	if ((err = compat_path(path, r->prefix, COMPAT_STATE)))
		return err;
	int fd = compat_open(path, O_RDWR, 0, &r->trust);
	if (fd < 0)
		return fd;
	err = compat_state_check(fd);
	if (!err) {
		void *p = mmap(NULL, sizeof(*r->state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			err = -errno;
		} else if ((err = populate(p, sizeof(*r->state), MADV_POPULATE_WRITE))) {
			munmap(p, sizeof(*r->state));
		} else {
			r->state = p;
			r->state_fd = fd;
			/* From here on the inline path of mmsync_read.h can read
			 * the versions whose sizes copy_map() checked. */
			r->f.version = (uint64_t *)&r->state->version;
			r->f.counts = (uint32_t *)r->state->readers;
			r->f.mode |= MMSYNC_FAST_COMPAT |
				     (r->flags & MMSYNC_VERIFY_CHECKSUM ? MMSYNC_FAST_CALL : 0);
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
	r->f.checked[mmsync_version_idx(v)] = 0; /* the inline path takes the call until checked */
	if (c->fd < 0) {
		char path[PATH_MAX];
		if ((err = compat_path(path, r->prefix, (enum compat_file)mmsync_version_idx(v))))
			return err;
		c->fd = compat_open(path, O_RDONLY, 0, &r->trust);
		if (c->fd < 0)
			return c->fd == -ENOENT ? -EBADMSG : c->fd;
	}
	uint64_t allocated;
	if ((err = compat_data_check(c->fd, size, &fsize, &allocated)))
		return err;
	if (size > c->len) {
		hold_unmap(&r->hold[mmsync_version_idx(v)], c->map, c->len);
		c->map = NULL;
		c->len = 0;
		void *p = mmap(NULL, fsize, PROT_READ, MAP_SHARED, c->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		c->map = p;
		c->len = fsize;
	}
	/* A sparse file (the crate's writer only sets the length): faulting
	 * in a hole allocates on tmpfs, and on a full one that is a SIGBUS.
	 * Fault it in here, where that is an error. */
	if (allocated < size && (err = populate((void *)c->map, size, MADV_POPULATE_READ)))
		return err;
	c->checked = v;
	r->f.copy[mmsync_version_idx(v)] = c->map;
	r->f.checked[mmsync_version_idx(v)] = v;
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
int compat_end(struct mmsync_reader *r, unsigned idx, uint64_t v)
{
	struct compat_state *s = r->state;
	uint64_t w = atomic_load(&s->version);
	if (mmsync_version_idx(w) == idx && w != v)
		return -ESTALE; /* republished under us: the count is not ours */
	return release(s, idx);
}

static const char empty_payload[1];

int compat_begin(struct mmsync_reader *r, struct mmsync_view *view)
{
	uint64_t v;
	int err;

	if ((err = compat_state_map(r)))
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
	if ((err = reader_verify(r, data, size, v)))
		goto fail;
	*view = (struct mmsync_view){
		.data = data, .len = size, .version = v, .copy_ = idx,
	};
	return 0;
fail:
	release(r->state, idx);
	return err;
}

void compat_reader_release(struct mmsync_reader *r)
{
	if (r->native) /* r->hold[] is the native copies' */
		return;
	r->f = (struct mmsync_read_fast){ 0 };
	copy_unmap(&r->copy[0], &r->hold[0]);
	copy_unmap(&r->copy[1], &r->hold[1]);
	if (r->state)
		munmap(r->state, sizeof(*r->state));
	if (r->state_fd >= 0)
		close(r->state_fd);
	free(r->prefix);
}

int compat_version(struct mmsync_reader *r, uint64_t *version)
{
	int err = compat_state_map(r);
	if (err)
		return err;
	*version = atomic_load(&r->state->version);
	return *version ? 0 : -ENODATA;
}

int compat_stat(struct mmsync_reader *r, struct mmsync_stat *st)
{
	int err = compat_state_map(r);
	if (err)
		return err;
	stat_from_compat(r->state, st);
	return 0;
}
