/* SPDX-License-Identifier: MIT */
/*
 * The read path of the compat layout.
 *
 * read_begin:
 *   v = load(version)                 0: nothing published (-ENODATA)
 *   readers[idx(v)] += 1
 *   if load(version) != v: readers[idx(v)] -= 1, start again
 *   map PREFIX_data_idx if needed (its size checked first: no SIGBUS)
 *   the view is the first size(v) bytes of that mapping
 * read_end:
 *   readers[idx] -= 1
 *
 * The re-check after the increment is what mmap-sync itself lacks: without
 * it a reader can load v, be preempted while the writer publishes twice
 * (the second time over copy idx(v), whose count was still 0), and then read
 * a copy that is being written. With it, a count the writer missed belongs
 * to a reader that will see the new version word and back off. All
 * operations are seq_cst: the writer's "check count, then write" and the
 * reader's "count, then check version" must not be reordered.
 *
 * The writer may reset a count after its grace period. read_end then finds
 * the count at 0 and reports -ESTALE instead of wrapping it around.
 *
 * Cost while the version is unchanged: two atomic RMWs and two loads, no
 * system call. On a version change the data file's size is checked again.
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

#define VIEW_OPEN 0x6d6d7376u /* marks a view that read_end may close */

struct copy_map {
	int fd;
	const void *map;
	size_t len;
	uint64_t checked; /* version word whose size was last checked against the file */
};

struct mmsync_reader {
	char *prefix;
	unsigned flags;
	int state_fd;
	struct compat_state *state;
	struct copy_map copy[2];
	uint64_t last_version;
	unsigned holding; /* 1 + the copy of the open view, 0 when none */
};

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

	struct mmsync_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->prefix = strdup(prefix);
	if (!r->prefix) {
		free(r);
		return -ENOMEM;
	}
	r->flags = flags;
	r->state_fd = r->copy[0].fd = r->copy[1].fd = -1;
	*rp = r;
	return 0;
}

static void copy_unmap(struct copy_map *c)
{
	if (c->map)
		munmap((void *)c->map, c->len);
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct copy_map){ .fd = -1 };
}

void mmsync_reader_close(struct mmsync_reader *r)
{
	if (!r)
		return;
	if (r->holding) {
		struct mmsync_view v = { .copy_ = r->holding - 1, .open_ = VIEW_OPEN };
		mmsync_read_end(r, &v);
	}
	copy_unmap(&r->copy[0]);
	copy_unmap(&r->copy[1]);
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
	struct copy_map *c = &r->copy[mmsync_version_idx(v)];
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
		atomic_fetch_sub(&s->readers[mmsync_version_idx(v)], 1);
	}
}

/* Drops a count without wrapping it: 0 means the writer reset it. */
static int release(struct compat_state *s, unsigned idx)
{
	uint32_t n = atomic_load(&s->readers[idx]);
	do {
		if (!n)
			return -ESTALE;
	} while (!atomic_compare_exchange_weak(&s->readers[idx], &n, n - 1));
	return 0;
}

int mmsync_read_begin(struct mmsync_reader *r, struct mmsync_view *view)
{
	uint64_t v;
	int err;

	if (!r || !view)
		return -EINVAL;
	if (r->holding)
		return -EBUSY;
	if ((err = state_map(r)))
		return err;
	if ((err = acquire(r->state, &v)))
		return err;

	unsigned idx = mmsync_version_idx(v);
	uint64_t size = mmsync_version_size(v);
	static const char empty[1];
	const void *data = empty;
	if (size) {
		if ((err = copy_map(r, v)))
			goto fail;
		data = r->copy[idx].map;
	}
	if ((r->flags & MMSYNC_VERIFY_CHECKSUM) &&
	    (mmsync_hash(data, size) & 0xffffff) != mmsync_version_checksum(v)) {
		err = -EBADMSG;
		goto fail;
	}

	*view = (struct mmsync_view){
		.data = data,
		.len = size,
		.version = v,
		.switched = v != r->last_version,
		.copy_ = idx,
		.open_ = VIEW_OPEN,
	};
	r->last_version = v;
	r->holding = idx + 1;
	return 0;
fail:
	release(r->state, idx);
	return err;
}

int mmsync_read_end(struct mmsync_reader *r, struct mmsync_view *view)
{
	if (!r || !view || view->open_ != VIEW_OPEN || !r->holding ||
	    r->holding - 1u != view->copy_)
		return -EINVAL;
	view->open_ = 0;
	r->holding = 0;
	return release(r->state, view->copy_);
}

int mmsync_version(struct mmsync_reader *r, uint64_t *version)
{
	if (!r || !version)
		return -EINVAL;
	int err = state_map(r);
	if (err)
		return err;
	*version = atomic_load(&r->state->version);
	return *version ? 0 : -ENODATA;
}

int mmsync_reader_stat(struct mmsync_reader *r, struct mmsync_stat *st)
{
	if (!r || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
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
