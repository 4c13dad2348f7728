/* SPDX-License-Identifier: MIT */
/*
 * mmsync — one writer publishes a blob of bytes, many readers read the
 * latest version from shared memory: no copy, no lock, never a half-written
 * version.
 *
 * Every function that can fail returns 0 or a negative errno; errno itself is
 * never an output. mmsync_strerror() turns a return value into a sentence.
 *
 * Layouts
 *   compat  files PREFIX_state, PREFIX_data_0, PREFIX_data_1, byte for byte
 *           the layout of the Rust crate mmap-sync 2.x: a C writer can feed
 *           Rust readers and a Rust writer can feed C readers.
 *
 * Threads: a writer or reader handle is used by one thread at a time. Give
 * each reading thread its own reader handle; handles are cheap.
 */
#ifndef MMSYNC_H
#define MMSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMSYNC_API __attribute__((visibility("default")))

#define MMSYNC_VERSION_MAJOR 0
#define MMSYNC_VERSION_MINOR 1

/* Largest payload a version word can describe: its size field has 39 bits. */
#define MMSYNC_MAX_PAYLOAD ((UINT64_C(1) << 39) - 1)

/*
 * Declares an options struct with its size filled in and the given fields
 * set, the others zero (their defaults):
 *
 *     MMSYNC_OPTS(mmsync_writer_opts, o, .flags = MMSYNC_SINGLE_WRITER);
 *     mmsync_writer_open(&w, "/dev/shm/feed", &o);
 */
#define MMSYNC_OPTS(TYPE, NAME, ...) \
	struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

struct mmsync_writer;
struct mmsync_reader;

/* mmsync_writer_opts.flags */
enum {
	/* Hold flock(LOCK_EX) on the state file while open: a second writer
	 * with this flag gets -EBUSY. */
	MMSYNC_SINGLE_WRITER = 1u << 0,
};

/* mmsync_reader_opts.flags */
enum {
	/* On every read, hash the payload and compare with the checksum in
	 * the version word; a mismatch gives -EBADMSG. Costs a pass over the
	 * payload per read. */
	MMSYNC_VERIFY_CHECKSUM = 1u << 0,
};

struct mmsync_writer_opts {
	size_t sz;		/* sizeof(struct mmsync_writer_opts) */
	unsigned flags;		/* MMSYNC_SINGLE_WRITER */
};

struct mmsync_reader_opts {
	size_t sz;		/* sizeof(struct mmsync_reader_opts) */
	unsigned flags;		/* MMSYNC_VERIFY_CHECKSUM */
};

/* What a write did. */
struct mmsync_write_info {
	size_t written;		/* payload bytes published */
	bool reset;		/* a reader held the copy past the grace period
				 * and its count was reset (compat layout) */
	uint64_t version;	/* the version word now published */
};

/*
 * One read: filled by mmsync_read_begin(), valid until mmsync_read_end().
 * `data` points into the shared mapping, never into a copy.
 */
struct mmsync_view {
	const void *data;	/* the payload, `len` bytes */
	size_t len;
	uint64_t version;	/* version word of this payload */
	bool switched;		/* version differs from this handle's previous read */
	/* private: for mmsync_read_end() */
	uint32_t copy_;
	uint32_t open_;
};

/* Figures of a segment, as mmsync_reader_stat() reads them. */
struct mmsync_stat {
	size_t sz;		/* sizeof(struct mmsync_stat), set by the caller */
	uint64_t version;	/* version word, 0 if nothing published */
	unsigned idx;		/* copy the version word points at */
	uint64_t size;		/* payload size in bytes */
	uint32_t checksum;	/* low 24 bits of the payload's hash */
	uint32_t readers[2];	/* readers currently holding copy 0 and copy 1 */
};

/* Version words. Bit 0 is the copy index, bits 1..39 the payload size,
 * bits 40..63 the low 24 bits of the payload hash; 0 means "nothing yet". */
static inline unsigned mmsync_version_idx(uint64_t v) { return (unsigned)(v & 1); }
static inline uint64_t mmsync_version_size(uint64_t v) { return (v >> 1) & MMSYNC_MAX_PAYLOAD; }
static inline uint32_t mmsync_version_checksum(uint64_t v) { return (uint32_t)(v >> 40); }

/**
 * mmsync_writer_open() - open the writer of a compat-layout segment
 * @w:      receives the handle
 * @prefix: path prefix; the files are PREFIX_state, PREFIX_data_0 and
 *          PREFIX_data_1, created (modes 0660 and 0640, less the umask) when
 *          absent. A state file of any size but 16 bytes is re-initialised,
 *          as mmap-sync does. An existing published version is kept: the
 *          next write goes to the other copy.
 * @opts:   NULL for defaults
 *
 * Return: 0, or -EINVAL (NULL or empty argument, bad opts or flags),
 * -ENAMETOOLONG, -EBUSY (MMSYNC_SINGLE_WRITER and another writer holds the
 * lock), -ENOMEM, or the errno of open(2)/mmap(2) on the state file.
 */
MMSYNC_API int mmsync_writer_open(struct mmsync_writer **w, const char *prefix,
				  const struct mmsync_writer_opts *opts);

/**
 * mmsync_write() - publish a new version
 * @w:        writer
 * @data:     payload (may be NULL when @len is 0)
 * @len:      payload size, at most MMSYNC_MAX_PAYLOAD
 * @grace_ns: how long to wait for readers still on the copy about to be
 *            overwritten; past it their count is reset and info->reset set
 * @info:     receives what was done; may be NULL
 *
 * Copies @data into the inactive copy, then publishes it with one atomic
 * store of the version word. Readers see the old version or the new one,
 * never a mix.
 *
 * Return: 0, or -EINVAL, -EMSGSIZE (@len above MMSYNC_MAX_PAYLOAD), -ENOSPC
 * (the copy cannot grow; nothing is published), or the errno of
 * open(2)/fallocate(2)/mmap(2) on the data file. On error the published
 * version is unchanged.
 */
MMSYNC_API int mmsync_write(struct mmsync_writer *w, const void *data, size_t len,
			    uint64_t grace_ns, struct mmsync_write_info *info);

/**
 * mmsync_writer_close() - unmap, close and free; the files stay. NULL is a no-op.
 */
MMSYNC_API void mmsync_writer_close(struct mmsync_writer *w);

/**
 * mmsync_reader_open() - open a reader of a compat-layout segment
 * @r:      receives the handle
 * @prefix: the writer's prefix. The files need not exist yet: reads return
 *          -ENOENT until they do.
 * @opts:   NULL for defaults
 *
 * Return: 0, or -EINVAL, -ENAMETOOLONG, -ENOMEM.
 */
MMSYNC_API int mmsync_reader_open(struct mmsync_reader **r, const char *prefix,
				  const struct mmsync_reader_opts *opts);

/**
 * mmsync_read_begin() - start a read of the current version
 * @r:    reader
 * @view: receives the payload pointer, length, version word and whether the
 *        version changed since this handle's previous read
 *
 * The bytes stay valid and unchanged until mmsync_read_end(), unless the
 * view is held longer than the writer's grace period (then read_end says
 * so). A handle holds one view at a time. Costs no system call while the
 * version is unchanged.
 *
 * Return: 0, or -EINVAL, -EBUSY (this handle already holds a view), -ENOENT
 * (no state file yet), -ENODATA (nothing published yet), -EBADMSG (state
 * file of the wrong size, data file shorter than the version says, missing
 * data file, or with MMSYNC_VERIFY_CHECKSUM a hash mismatch), -EACCES, or the
 * errno of open(2)/mmap(2).
 */
MMSYNC_API int mmsync_read_begin(struct mmsync_reader *r, struct mmsync_view *view);

/**
 * mmsync_read_end() - end a read started by mmsync_read_begin()
 *
 * Return: 0, -EINVAL (@view is not this handle's open view), or -ESTALE:
 * the writer reset this copy's reader count after its grace period, so
 * the bytes of the view may have been overwritten while it was held.
 * Either way the view is closed.
 */
MMSYNC_API int mmsync_read_end(struct mmsync_reader *r, struct mmsync_view *view);

/**
 * mmsync_version() - the version word currently published
 *
 * Return: 0, or -EINVAL, -ENOENT, -ENODATA, -EBADMSG as mmsync_read_begin().
 */
MMSYNC_API int mmsync_version(struct mmsync_reader *r, uint64_t *version);

/**
 * mmsync_reader_stat() - read the segment's figures
 * @st: st->sz must be set to sizeof(*st) (older callers pass less)
 *
 * Return: 0, or -EINVAL, -ENOENT, -EBADMSG. With nothing published, returns
 * 0 with st->version 0.
 */
MMSYNC_API int mmsync_reader_stat(struct mmsync_reader *r, struct mmsync_stat *st);

/**
 * mmsync_reader_close() - unmap, close and free. A view still open is ended.
 * NULL is a no-op.
 */
MMSYNC_API void mmsync_reader_close(struct mmsync_reader *r);

/**
 * mmsync_strerror() - describe a return value of this library
 * @err: a negative (or positive) errno
 *
 * Return: a static string, never NULL.
 */
MMSYNC_API const char *mmsync_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* MMSYNC_H */
