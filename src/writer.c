/* SPDX-License-Identifier: MIT */
/*
 * The writer of the compat layout: mmap-sync's protocol, kept byte for byte.
 *
 *   next = the copy the version word does not point at (0 before any write)
 *   wait until readers[next] == 0, up to the grace period; past it store 0
 *     and report reset (the crate's behaviour, kept so that both sides agree),
 *     or with MMSYNC_NO_RESET give up (-ETIMEDOUT) and publish nothing
 *   grow PREFIX_data_next to the payload size, copy the payload in,
 *   store the new version word: one atomic store publishes it.
 *
 * Readers increment readers[idx] and then re-check the version word, so a
 * reader counted on `next` after the wait cannot be reading `next`: it sees
 * the version word still pointing at the other copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "compat_layout.h"
#include "hash.h"
#include "mmsync.h"
#include "opts.h"
#include "uring.h"
#include "writer.h"


static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens the state file, creating it whole: a reader that opens it while
 * the writer starts must never see it shorter than 16 bytes. So a new file
 * is made nameless (O_TMPFILE, the umask applies to its mode as to open's),
 * sized, and only then linked under its name. Where O_TMPFILE is not
 * supported, it is created in place. */
static int compat_state_create(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;

	char dir[PATH_MAX], proc[64];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = 0; /* keep "/" for a file at the root */

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, COMPAT_STATE_MODE);
	if (fd < 0) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, COMPAT_STATE_MODE);
		return fd >= 0 ? fd : -errno;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (ftruncate(fd, sizeof(struct compat_state)) == 0 &&
	    linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return fd;
	int err = errno;
	close(fd);
	if (err != EEXIST)
		return -err;
	fd = open(path, O_RDWR | O_CLOEXEC); /* another writer linked one first */
	return fd >= 0 ? fd : -errno;
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

	w->state_fd = compat_state_create(path);
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

	void *p = mmap(NULL, sizeof(*w->state), PROT_READ | PROT_WRITE, MAP_SHARED, w->state_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	w->state = p;
	return 0;
}

struct mmsync_writer *writer_alloc(void)
{
	struct mmsync_writer *w = calloc(1, sizeof(*w));
	if (w)
		w->state_fd = w->copy[0].fd = w->copy[1].fd = -1;
	return w;
}

int mmsync_writer_open(struct mmsync_writer **wp, const char *prefix,
		       const struct mmsync_writer_opts *opts)
{
	if (!wp)
		return -EINVAL;
	*wp = NULL;
	if (!opts_valid(opts, sizeof(*opts)))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (flags & ~(MMSYNC_SINGLE_WRITER | MMSYNC_NO_RESET))
		return -EINVAL;
	int err = compat_prefix_valid(prefix);
	if (err)
		return err;

	struct mmsync_writer *w = writer_alloc();
	if (!w)
		return -ENOMEM;
	w->no_reset = flags & MMSYNC_NO_RESET;
	w->prefix = strdup(prefix);
	err = w->prefix ? state_open(w, flags) : -ENOMEM;
	if (err) {
		mmsync_writer_close(w);
		return err;
	}
	*wp = w;
	return 0;
}

void mmsync_writer_close(struct mmsync_writer *w)
{
	if (!w)
		return;
	if (w->native)
		native_writer_close(w->native);
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
	free(w);
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
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
	uint64_t now = now_ns(), step = SLEEP_MIN_NS;
	uint64_t deadline = grace_ns > UINT64_MAX - now ? UINT64_MAX : now + grace_ns;

	for (unsigned spins = 0; atomic_load(&s->readers[idx]) != 0; spins++) {
		if (grace_ns && spins < SPINS) {
			cpu_pause();
			continue;
		}
		now = now_ns();
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

	if (c->fd < 0) {
		char path[PATH_MAX];
		if ((err = compat_path(path, w->prefix, (enum compat_file)idx)))
			return err;
		c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, COMPAT_DATA_MODE);
		if (c->fd < 0)
			return -errno;
	}
	err = compat_data_check(c->fd, 0, &fsize);
	if (err)
		return err;
	if (fsize < len) {
		err = posix_fallocate(c->fd, 0, (off_t)len);
		if (err)
			return -err;
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
	return 0;
}

/* Readers off the next copy, and the copy ready for @len bytes. */
static int compat_prepare(struct mmsync_writer *w, size_t len, uint64_t grace_ns, unsigned *next,
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

static int compat_publish(struct mmsync_writer *w, unsigned next, size_t len, bool reset,
			  struct mmsync_write_info *info)
{
	uint64_t v;
	int err = compat_version_encode(next, len, mmsync_hash(w->copy[next].map, len), &v);
	if (err)
		return err;
	atomic_store(&w->state->version, v); /* seq_cst: orders the copy before it */
	if (info)
		*info = (struct mmsync_write_info){ .written = len, .reset = reset, .version = v };
	return 0;
}

static int check_write(struct mmsync_writer *w, size_t len)
{
	if (!w)
		return -EINVAL;
	if (len > MMSYNC_MAX_PAYLOAD)
		return -EMSGSIZE;
	return w->building ? -EBUSY : 0;
}

int mmsync_write(struct mmsync_writer *w, const void *data, size_t len,
		 uint64_t grace_ns, struct mmsync_write_info *info)
{
	unsigned next;
	bool reset;
	int err = check_write(w, len);

	if (err || (!data && len))
		return err ? err : -EINVAL;
	if (w->native)
		return native_write(w->native, data, len, grace_ns, info);
	if ((err = compat_prepare(w, len, grace_ns, &next, &reset)))
		return err;
	if (len)
		memcpy(w->copy[next].map, data, len);
	return compat_publish(w, next, len, reset, info);
}

int mmsync_write_from_fd(struct mmsync_writer *w, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info)
{
	unsigned next;
	bool reset;
	int err = check_write(w, len);

	if (err || fd < 0 || offset < -1)
		return err ? err : -EINVAL;
	if (w->native)
		return native_write_from_fd(w->native, fd, offset, len, grace_ns, info);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	bool direct = fl & O_DIRECT; /* whole blocks: the last may pass the end, in its page */
	if (direct && offset > 0 && offset % 4096)
		return -EINVAL;
	if ((err = compat_prepare(w, len, grace_ns, &next, &reset)))
		return err;
	if ((err = uring_read_plain(fd, offset, w->copy[next].map, len, 1u << 20, direct, 4096)))
		return err;
	return compat_publish(w, next, len, reset, info);
}

int mmsync_write_begin(struct mmsync_writer *w, size_t len, uint64_t grace_ns, void **ptr)
{
	int err = check_write(w, len);

	if (err || !ptr)
		return err ? err : -EINVAL;
	err = w->native ? native_write_begin(w->native, len, grace_ns, ptr)
			: compat_prepare(w, len, grace_ns, &w->build_copy, &w->build_reset);
	if (err)
		return err;
	if (!w->native)
		*ptr = w->copy[w->build_copy].map;
	w->building = true;
	w->build_len = len;
	return 0;
}

int mmsync_write_commit(struct mmsync_writer *w, size_t len, struct mmsync_write_info *info)
{
	if (!w || !w->building || len > w->build_len)
		return -EINVAL;
	int err = w->native ? native_write_commit(w->native, len, info)
			    : compat_publish(w, w->build_copy, len, w->build_reset, info);
	if (err != -ECHILD) /* refused in a forked child: nothing changed */
		w->building = false;
	return err;
}

int mmsync_write_abort(struct mmsync_writer *w)
{
	if (!w || !w->building)
		return -EINVAL;
	int err = w->native ? native_write_abort(w->native) : 0;
	if (!err)
		w->building = false;
	return err;
}
