/* SPDX-License-Identifier: MIT */
/*
 * The writer of the compat layout: mmap-sync's protocol, kept byte for byte
 * (docs/protocol.md, compat layout): WAIT-COUNT on the copy the version
 * word does not name, RESET past the grace period (the crate's behaviour,
 * kept so that both sides agree) or with MMSYNC_NO_RESET give up
 * (-ETIMEDOUT) and publish nothing, FILL (the data file allocated, not only
 * truncated), PUBLISH: one atomic store of the version word.
 *
 * Readers COUNT themselves and then RECHECK the version word, so a reader
 * counted on `next` after the wait cannot be reading `next`: it sees the
 * version word still pointing at the other copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compat_layout.h"
#include "fds.h"
#include "hash.h"
#include "mmsync.h"
#include "opts.h"
#include "uring.h"
#include "wait.h"
#include "writer.h"


/* Opens the state file, creating it whole: a reader that opens it while
 * the writer starts must never see it shorter than 16 bytes. So a new file
 * is made nameless (O_TMPFILE, the umask applies to its mode as to open's),
 * sized, and only then linked under its name. Where O_TMPFILE is not
 * supported, it is created in place. */
static int compat_state_create(const char *path, const struct compat_trust *t)
{
	int fd = compat_open(path, O_RDWR, 0, t);
	if (fd != -ENOENT)
		return fd;

	char dir[PATH_MAX], proc[64];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = 0; /* keep "/" for a file at the root */

	fd = fd_above_stdio(open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, COMPAT_STATE_MODE));
	if (fd < 0)
		return compat_open(path, O_RDWR | O_CREAT, COMPAT_STATE_MODE, t);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int err = ftruncate(fd, sizeof(struct compat_state)) ? errno
		  : posix_fallocate(fd, 0, sizeof(struct compat_state));
	if (!err && linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return fd;
	if (!err)
		err = errno;
	close(fd);
	if (err != EEXIST)
		return -err;
	return compat_open(path, O_RDWR, 0, t); /* another writer linked one first */
}

/* Opens (creating) the state file and makes it 16 bytes. The crate
 * re-initialises a file of any other size; so do we, but by growing or
 * shrinking straight to 16 and zeroing, never through size 0, so that no
 * mapping of it is ever past its end. */
static int state_open(struct mmsync_writer *w, unsigned flags)
{
	char path[PATH_MAX];
	int err = compat_path(path, w->prefix, COMPAT_STATE);
	if (err)
		return err;

	w->state_fd = compat_state_create(path, &w->trust);
	if (w->state_fd < 0)
		return w->state_fd;
	if ((flags & MMSYNC_SINGLE_WRITER) && flock(w->state_fd, LOCK_EX | LOCK_NB))
		return errno == EWOULDBLOCK ? -EBUSY : -errno;

	err = compat_state_check(w->state_fd);
	if (err == -EBADMSG) {
		static const struct compat_state zero;
		if (ftruncate(w->state_fd, sizeof(zero)) ||
		    pwrite(w->state_fd, &zero, sizeof(zero), 0) != (ssize_t)sizeof(zero))
			return -errno;
		err = compat_state_check(w->state_fd);
	}
	if (err)
		return err;
	/* Its page must exist before it is mapped: on a full file system a
	 * store to a hole would be a SIGBUS. (A file the crate made with
	 * set_len may be one.) */
	if ((err = posix_fallocate(w->state_fd, 0, sizeof(struct compat_state))))
		return -err;

	void *p = mmap(NULL, sizeof(*w->state), PROT_READ | PROT_WRITE, MAP_SHARED, w->state_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	w->state = p;
	return 0;
}

int mmsync_writer_open(struct mmsync_writer **wp, const char *prefix,
		       const struct mmsync_writer_opts *opts)
{
	if (!wp)
		return -EINVAL;
	*wp = NULL;
	struct log l = OPTS_LOG(opts, prefix);
	if (opts_check(opts, sizeof(*opts), &l, "mmsync_writer_open", "mmsync_writer_opts"))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (opts_flags_check(flags, MMSYNC_SINGLE_WRITER | MMSYNC_NO_RESET | MMSYNC_WAKE_WAITERS,
			     &l, "mmsync_writer_open", "mmsync_writer_opts"))
		return -EINVAL;
	int err = compat_prefix_valid(prefix);
	if (err)
		return err;

	struct mmsync_writer *w = writer_alloc();
	if (!w)
		return -ENOMEM;
	w->no_reset = flags & MMSYNC_NO_RESET;
	w->wake = flags & MMSYNC_WAKE_WAITERS;
	w->trust = (struct compat_trust){
		.uid = OPTS_GET(opts, trust_uid, 0),
		.log = { OPTS_GET(opts, log, NULL), OPTS_GET(opts, log_ctx, NULL), NULL },
	};
	w->prefix = strdup(prefix);
	w->trust.log.who = w->prefix;
	err = w->prefix ? state_open(w, flags) : -ENOMEM;
	if (err) {
		mmsync_writer_close(w);
		return err;
	}
	*wp = w;
	return 0;
}

/* Waits for readers[idx] to reach 0 until @grace_ns has passed. Past it,
 * takes the count over (stores 0) and returns 1, or with @no_reset leaves
 * it and returns -ETIMEDOUT. Returns 0 once the count is 0.
 *
 * A short spin first, as most readers leave within a microsecond; then
 * sleeps that double from 1 us to 256 us. Never sched_yield(): with more
 * spinning readers than cores it hands the core to a reader for a whole
 * time slice (757 writes/s against 13.1 k/s with a 1 us sleep, measured
 * with 2 spinning readers on 2 cores). */
static int wait_readers(struct compat_state *s, unsigned idx, uint64_t grace_ns, bool no_reset)
{
	enum { SPINS = 128, SLEEP_MIN_NS = 1000, SLEEP_MAX_NS = 256000 };

	if (atomic_load(&s->readers[idx]) == 0)
		return 0;
	uint64_t now = now_ns(CLOCK_MONOTONIC), step = SLEEP_MIN_NS;
	uint64_t deadline = grace_ns > UINT64_MAX - now ? UINT64_MAX : now + grace_ns;

	for (unsigned spins = 0; atomic_load(&s->readers[idx]) != 0; spins++) {
		if (grace_ns && spins < SPINS) {
			cpu_relax();
			continue;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= deadline) {
			if (no_reset)
				return -ETIMEDOUT;
			atomic_store(&s->readers[idx], 0);
			return 1;
		}
		struct timespec ts = { 0, (long)(deadline - now < step ? deadline - now : step) };
		nanosleep(&ts, NULL);
		if (step < SLEEP_MAX_NS)
			step *= 2;
	}
	return 0;
}

/* Makes copy @idx a file of at least @len bytes, mapped writable over at
 * least @len. posix_fallocate rather than ftruncate: the blocks are
 * allocated now, so a full disk is an error here and not a SIGBUS in the
 * middle of the copy. The file's size is checked on every write, so a file
 * shrunk behind our back is grown again before it is touched. */
static int copy_prepare(struct mmsync_writer *w, unsigned idx, size_t len)
{
	struct compat_copy *c = &w->copy[idx];
	uint64_t fsize = 0;
	int err;

	if (c->fd >= 0 && len <= c->ready)
		return 0; /* an fstat a write was ~1.2 us here, as much as the rest */
	if (c->fd < 0) {
		char path[PATH_MAX];
		if ((err = compat_path(path, w->prefix, (enum compat_file)idx)))
			return err;
		c->fd = compat_open(path, O_RDWR | O_CREAT, COMPAT_DATA_MODE, &w->trust);
		if (c->fd < 0)
			return c->fd;
	}
	uint64_t allocated;
	err = compat_data_check(c->fd, 0, &fsize, &allocated);
	if (err)
		return err;
	/* Holes (a file the crate made with set_len, or grown by another
	 * writer) are allocated too. */
	if (fsize < len || allocated < len) {
		err = posix_fallocate(c->fd, 0, (off_t)len);
		if (err)
			return -err;
		if (fsize < len)
			fsize = len;
	}
	if (c->len < len) {
		if (c->map)
			munmap(c->map, c->len);
		c->map = NULL;
		c->len = 0;
		void *p = mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		c->map = p;
		c->len = fsize;
	}
	c->ready = len;
	return 0;
}

/* Readers off the next copy, and the copy ready for @len bytes. */
int compat_prepare(struct mmsync_writer *w, size_t len, uint64_t grace_ns, unsigned *next,
			  bool *reset)
{
	uint64_t cur = atomic_load(&w->state->version);
	*next = cur ? !mmsync_version_idx(cur) : 0;
	int err = wait_readers(w->state, *next, grace_ns, w->no_reset);
	if (err < 0)
		return err; /* MMSYNC_NO_RESET: nothing touched, nothing published */
	*reset = err;
	return copy_prepare(w, *next, len); /* creates the file even for 0 bytes, as the crate does */
}

int compat_publish(struct mmsync_writer *w, unsigned next, size_t len, bool reset,
			  struct mmsync_write_info *info)
{
	uint64_t v;
	int err = compat_version_encode(next, len, mmsync_hash(w->copy[next].map, len), &v);
	if (err)
		return err;
	atomic_store(&w->state->version, v); /* seq_cst: orders the copy before it */
	/* No room in the state file to say who waits: a wake every publish,
	 * when asked (src/reader_wait.c). */
	if (w->wake)
		futex_wake_all(low_half(&w->state->version));
	if (info)
		*info = (struct mmsync_write_info){ .written = len, .reset = reset, .version = v };
	return 0;
}

int compat_write(struct mmsync_writer *w, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info)
{
	unsigned next;
	bool reset;
	int err = compat_prepare(w, len, grace_ns, &next, &reset);

	if (err)
		return err;
	if (len)
		memcpy(w->copy[next].map, data, len);
	return compat_publish(w, next, len, reset, info);
}

int compat_write_from_fd(struct mmsync_writer *w, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info)
{
	unsigned next;
	bool reset;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	bool direct = fl & O_DIRECT; /* whole blocks: the last may pass the end, in its page */
	if (direct && offset > 0 && offset % 4096)
		return -EINVAL;
	int err = compat_prepare(w, len, grace_ns, &next, &reset);
	if (err)
		return err;
	if ((err = uring_read_plain(fd, offset, w->copy[next].map, len, 1u << 20, direct, 4096)))
		return err;
	return compat_publish(w, next, len, reset, info);
}

void compat_writer_release(struct mmsync_writer *w)
{
	for (int i = 0; i < 2; i++) {
		if (w->copy[i].map)
			munmap(w->copy[i].map, w->copy[i].len);
		if (w->copy[i].fd >= 0)
			close(w->copy[i].fd);
	}
	if (w->state)
		munmap(w->state, sizeof(*w->state));
	if (w->state_fd >= 0)
		close(w->state_fd); /* drops the flock */
	free(w->prefix);
}
