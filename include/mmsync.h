/* SPDX-License-Identifier: MIT */
/*
 * mmsync — one writer publishes a blob of bytes, many readers read the
 * latest version from shared memory: no copy, no lock, never a half-written
 * version.
 *
 * Every function that can fail returns 0 or a negative errno; errno itself is
 * never an output. mmsync_strerror() turns a return value into a sentence.
 *
 * Two layouts. The function that makes a handle picks its layout, and every
 * other function works on either:
 *
 *   compat  writer: mmsync_writer_open(PREFIX)    reader: mmsync_reader_open(PREFIX)
 *           Files PREFIX_state, PREFIX_data_0, PREFIX_data_1, byte for byte
 *           the layout of the Rust crate mmap-sync 2.x: a C writer can feed
 *           Rust readers and a Rust writer can feed C readers. Options:
 *           struct mmsync_writer_opts (MMSYNC_SINGLE_WRITER, MMSYNC_NO_RESET).
 *   native  writer: mmsync_writer_create(NAME), then mmsync_writer_listen()
 *           reader: mmsync_reader_connect(SOCKET) or mmsync_reader_from_fds()
 *           Sealed memfd (or hugetlb) copies that the writer hands to readers
 *           over a Unix socket (SCM_RIGHTS) or by inheritance. Readers need no
 *           file system, never wait and never retry; a reader that dies costs
 *           the writer nothing; a reader held past the grace period is told.
 *           Options: struct mmsync_native_opts (MMSYNC_HUGETLB, ...).
 *
 * Readers of both layouts take struct mmsync_reader_opts. Each options
 * struct has flags of its own (MMSYNC_*, grouped below by struct), on bits
 * no other struct uses: a flag given to the wrong struct is refused with
 * -EINVAL. (Version 0.2 moved them there: rebuild programs built against
 * 0.1.)
 *
 * The read protocol, its steps and why they are enough, are written up in
 * docs/protocol.md of the source; tests/protocol.pml models it.
 *
 * Trust (README, "Security model"): on the compat layout whoever can write
 * the files is trusted, so they are used only when they are regular files
 * (no symlink, one link) of the caller's uid, root or trust_uid. On the
 * native layout readers trust the writer and no one else: a writer of the
 * caller's uid, root or trust_uid (or any, with MMSYNC_ANY_WRITER), sealed
 * copies (unsealed ones with MMSYNC_TRUST_UNSEALED). No descriptor the
 * library opens is 0, 1 or 2.
 *
 * Threads: a writer or reader handle is used by one thread at a time. Give
 * each reading thread its own reader handle; handles are cheap. A native
 * writer's service thread (MMSYNC_LISTEN_SERVE) is the library's own: it
 * shares the handle with the caller's thread without the caller's help.
 *
 * fork(): a handle is used by one process. A child that needs a handle of
 * its own makes it (a reader connects to the parent's socket, where the
 * parent's service thread or dispatch serves it) and leaves the inherited
 * ones alone:
 *   native writer  fork() copies only the calling thread: the service
 *                  thread stays in the parent. With it running at the fork,
 *                  every function on the child's copy but
 *                  mmsync_writer_close() fails with -ECHILD, once its
 *                  arguments have passed their checks (a commit or abort
 *                  with nothing begun is still -EINVAL). Without it, the
 *                  child may take the writer over, as a daemon does after
 *                  making it: its first call makes it the writer's process
 *                  (the header's writer_pid), and the parent must then
 *                  leave its copy alone (two processes writing would break
 *                  the protocol). mmsync_writer_close() removes the socket
 *                  file and the BPF pins and marks the header only in the
 *                  writer's process (the one the header names: its maker,
 *                  or the child that took it over), or in a process that
 *                  used the writer before once that one has gone. In a
 *                  child that did not take the writer over it releases the
 *                  child's references only (descriptors, mappings,
 *                  memory): a child closing the copy it inherited changes
 *                  nothing of its parent's, which goes on serving and
 *                  publishing. With a service thread running at the fork,
 *                  the child's copies of reader connections stay open,
 *                  close-on-exec, until it exits or execs. A fork() in any
 *                  thread of a process with a listening writer waits for a
 *                  handshake under way (the library's pthread_atfork()
 *                  handlers take the lock handshakes hold): no child holds
 *                  a copy of the lock a new reader's liveness rests on,
 *                  which would make that reader look alive, when it left,
 *                  for as long as the child lived.
 *   compat writer  the child's copy writes the parent's files: used in both
 *                  processes it is two writers. Closing it releases the
 *                  child's descriptors and mappings only (an flock taken
 *                  with MMSYNC_SINGLE_WRITER stays the parent's).
 *   reader         the child's copy shares the parent's slot (native) or
 *                  counts (compat): reads in both processes break the
 *                  protocol, and the inline read path cannot refuse them.
 *                  mmsync_reader_close() in the child releases the child's
 *                  mappings and descriptors only, provided the parent held
 *                  no view at the fork (close ends an open view, which is
 *                  the parent's); the writer sees no departure. Exit or exec
 *                  release them as well.
 */
#ifndef MMSYNC_H
#define MMSYNC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMSYNC_API __attribute__((visibility("default")))

/* MMSYNC_VERSION_MAJOR, _MINOR, _PATCH and _STRING: this header's release. */
#include "mmsync_version.h"

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
struct mmsync_hold;

/* mmsync_writer_opts.flags (compat writers): bits 0-7 */
enum {
	/* Hold flock(LOCK_EX) on the state file while open: a second writer
	 * with this flag gets -EBUSY. */
	MMSYNC_SINGLE_WRITER = 1u << 0,
	/* Compat layout: never overwrite a copy that readers are counted on.
	 * A write whose readers stay past the grace period returns
	 * -ETIMEDOUT and publishes nothing (counts untouched), where by
	 * default the writer resets their count and goes on. Without resets
	 * no reader is ever overwritten; but a reader killed inside a view
	 * leaves a count that fails every later write, until a writer without
	 * this flag resets it. */
	MMSYNC_NO_RESET = 1u << 1,
	/* Compat layout: wake the readers sleeping in mmsync_wait() at each
	 * publish, at once: a futex wake, one system call a publish whether or
	 * not anyone waits (1.3 us here, as much as a 36-byte write itself:
	 * tools/bench/wake_latency.c). Without it, and with the Rust crate's
	 * writer, they see a publish at their next look, every 10 ms. Native
	 * writers always wake, and only readers that wait. */
	MMSYNC_WAKE_WAITERS = 1u << 2,
};

/* mmsync_native_opts.flags (native writers): bits 8-15 */
enum {
	/* Copies in MFD_HUGETLB memfds (the default huge page size): fewer TLB
	 * misses on large payloads. Needs free huge pages (vm.nr_hugepages). */
	MMSYNC_HUGETLB = 1u << 8,
	/* Hash every payload and put the low 24 bits in the version word, so
	 * that readers may verify it (MMSYNC_VERIFY_CHECKSUM). Off by default
	 * on this layout: the hash costs as much as the copy (9.9 GB/s against
	 * 10.8 GB/s for memcpy here), and sealed copies cannot be changed by
	 * anyone but the writer. */
	MMSYNC_CHECKSUM = 1u << 9,
	/* No BPF: no pinned mirror of the header. By default, when the writer
	 * may use BPF (CAP_BPF) and libmmsync was built with BPF (meson
	 * -Dbpf), the writer copies the header (always a memfd, which readers
	 * map) into a BPF array map at each publish, pinned with the metrics
	 * iterator under /sys/fs/bpf/mmsync/NAME/ (`state`, `metrics`). */
	MMSYNC_BPF_OFF = 1u << 10,
	/* Fail (-EPERM, logged) rather than fall back to a memfd header;
	 * -ENOSYS if libmmsync was built without BPF. */
	MMSYNC_BPF_REQUIRE = 1u << 11,
	/* Leave the pins in place when the writer closes: the last figures
	 * stay readable. A later writer of the same name replaces them. */
	MMSYNC_KEEP_PINS = 1u << 12,
};

/* mmsync_reader_opts.flags (readers of both layouts): bits 16-23 */
enum {
	/* On every read, hash the payload and compare with the checksum in
	 * the version word; a mismatch gives -EBADMSG. Costs a pass over the
	 * payload per read. */
	MMSYNC_VERIFY_CHECKSUM = 1u << 16,
	/* Native readers: how a read orders its arrival before it loads the
	 * current copy. By default a reader registers for expedited membarriers
	 * and reads without a fence (a few ns cheaper); the writer then issues
	 * one membarrier per write while such a reader is live (a few µs
	 * dearer). Where registering is refused (seccomp, old kernels), or the
	 * writer cannot issue that membarrier, the reader fences each read. If
	 * the writer's membarrier fails later, fenceless readers are told as
	 * evicted readers are (-ESTALE) and read fenced from their next read
	 * on, MMSYNC_FENCELESS readers included. These force either way. */
	MMSYNC_FENCED = 1u << 17,
	MMSYNC_FENCELESS = 1u << 18,	/* fail with -ENOTSUP if it cannot */
	/* Native readers: accept copies the writer cannot seal (files in a
	 * hugetlbfs mount, struct mmsync_native_opts.hugetlbfs_dir). Such a
	 * writer can shrink a copy under the reader, which then dies of SIGBUS
	 * at its next access: give it only for a writer this process trusts
	 * not to. Without it they are refused (-EBADMSG). */
	MMSYNC_TRUST_UNSEALED = 1u << 19,
	/* Native readers: take whatever writer listens on the socket. By
	 * default mmsync_reader_connect() reads only from a writer running as
	 * this process's uid, as root or as trust_uid (its SO_PEERCRED), since
	 * anyone can bind an abstract name, or a path in a directory open to
	 * others, before the real writer does. Give this flag where the path
	 * itself vouches for the writer: a socket in a directory only the
	 * writer can write (what the README recommends), bound into a sandbox
	 * by its launcher, where the writer's uid is not mapped (it then reads
	 * as the overflow uid, 65534, like every unmapped uid). */
	MMSYNC_ANY_WRITER = 1u << 20,
};

/* Options structs: a field left 0 takes its default (in brackets), unlike
 * the grace_ns argument of the write functions, where 0 means no grace. */
/* Options of a compat writer (mmsync_writer_open()); a native writer takes
 * struct mmsync_native_opts. */
struct mmsync_writer_opts {
	size_t sz;		/* sizeof(struct mmsync_writer_opts) */
	unsigned flags;		/* MMSYNC_SINGLE_WRITER, MMSYNC_NO_RESET */
	/* Files found in place are used only if they belong to this process's
	 * uid, to root, or to this uid [0: no one else]; see mmsync_writer_open(). */
	uid_t trust_uid;
	/* Refused files are reported here [stderr]. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

/* Options of a reader, either layout. */
struct mmsync_reader_opts {
	size_t sz;		/* sizeof(struct mmsync_reader_opts) */
	unsigned flags;		/* MMSYNC_VERIFY_CHECKSUM, MMSYNC_FENCED, MMSYNC_FENCELESS */
	unsigned timeout_ms;	/* connect: how long to wait for the writer's
				 * handshake [5000] */
	/* Who else, besides this process's uid and root, is trusted [0: no
	 * one]: compat, the owner of the files; native, the writer on the
	 * socket. A writer running as a service user and read by its group
	 * names that user here. */
	uid_t trust_uid;
	/* Refused files and writers are reported here [stderr]. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

/* Options of a native writer (mmsync_writer_create()); zero fields take the
 * defaults in brackets. */
struct mmsync_native_opts {
	size_t sz;		/* sizeof(struct mmsync_native_opts) */
	unsigned flags;		/* MMSYNC_HUGETLB, MMSYNC_CHECKSUM, MMSYNC_BPF_*,
				 * MMSYNC_KEEP_PINS */
	unsigned max_readers;	/* reader slots [126], at most 4096 */
	uint64_t capacity;	/* bytes per copy [64 MiB]; sparse: pages exist
				 * once written. Rounded up to the page (or huge
				 * page) size. A larger payload starts a new
				 * generation of copies. */
	const char *hugetlbfs_dir; /* copies as files in this hugetlbfs mount,
				    * instead of memfds [NULL] */
	/* Refused peers and dropped readers are reported here [stderr]. With
	 * the service thread (MMSYNC_LISTEN_SERVE) it is called from that
	 * thread too, and at times with the lock held that handshakes take
	 * (and fork() does, see fork() at the top): it must be thread-safe,
	 * quick, call no function of this writer and not call fork(). */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
	/* mmsync_write_from_fd(): bytes a read request asks for [1 MiB], and
	 * requests in flight [4] (the ring has that many entries, at least 8). */
	size_t chunk_size;
	unsigned queue_depth;
};

/* mmsync_listen_opts.flags (mmsync_writer_listen()): bits 24-31 */
enum {
	/* Serve readers from a thread of the writer's own ("mmsync-serve",
	 * all signals blocked): it accepts connections and hands readers their
	 * descriptors, takes back the slots of readers that left, and
	 * refreshes the header's figures every 100 ms, as a loop calling
	 * mmsync_writer_dispatch() would; the program needs no event loop. A
	 * reader connecting while a write waits out its grace period is served
	 * at once: no lock is held across a write's waits. A write takes no
	 * lock unless a reader served meanwhile is taken into its slots, a dead
	 * reader's slot freed, or a new generation published.
	 * mmsync_writer_dispatch() and mmsync_writer_fd() then return -EBUSY;
	 * mmsync_writer_close() stops and joins the thread. See fork() at the
	 * top for what a fork does to it. */
	MMSYNC_LISTEN_SERVE = 1u << 24,
};

/* Options of mmsync_writer_listen(). */
struct mmsync_listen_opts {
	size_t sz;		/* sizeof(struct mmsync_listen_opts) */
	const uid_t *allow_uids; /* peers whose uid is listed may connect; */
	size_t n_allow_uids;
	const gid_t *allow_gids; /* ... or whose gid is listed. With both
				  * lists empty: the writer's own uid and root. */
	size_t n_allow_gids;
	unsigned mode;		/* socket file mode [0660]; not for abstract names */
	unsigned flags;		/* MMSYNC_LISTEN_SERVE [0: the caller dispatches] */
};

/* Descriptors of a native segment, as mmsync_writer_export_fds() gives them
 * and mmsync_reader_from_fds() takes them. */
enum {
	MMSYNC_FD_STATE = 0,	/* header, read-only */
	MMSYNC_FD_COPY0 = 1,	/* data copy 0, read-only */
	MMSYNC_FD_COPY1 = 2,	/* data copy 1, read-only */
	MMSYNC_FD_SLOTS = 3,	/* reader slot table, shared by these readers */
	MMSYNC_NR_FDS = 4,
};

/* What a write did. */
struct mmsync_write_info {
	size_t written;		/* payload bytes published */
	bool reset;		/* a reader held the copy past the grace period
				 * and its count was reset (compat layout) */
	uint64_t version;	/* the version word now published */
	uint64_t seq;		/* native: write sequence number (1, 2, ...); compat: 0 */
	unsigned evicted;	/* native: readers evicted after the grace period */
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
	uint64_t seq;		/* native: write sequence number; compat: 0 */
	/* private: for mmsync_read_end() */
	uint32_t copy_;
	uint32_t open_;
	/* Room for what later versions add, so that a view on the caller's
	 * stack keeps its size: neither read nor written by callers. */
	uint64_t reserved_[4];
};

/* Figures of a segment, as mmsync_reader_stat() reads them. */
struct mmsync_stat {
	size_t sz;		/* sizeof(struct mmsync_stat), set by the caller */
	uint64_t version;	/* version word, 0 if nothing published */
	unsigned idx;		/* copy the version word points at */
	uint64_t size;		/* payload size in bytes */
	uint32_t checksum;	/* low 24 bits of the payload's hash */
	uint32_t readers[2];	/* readers currently holding copy 0 and copy 1 */
	/* native layout only (0 on compat): */
	bool native;
	uint64_t seq;		/* write sequence number */
	uint64_t generation;	/* generation of the copies */
	uint64_t capacity;	/* bytes per copy */
	uint32_t max_readers;
	uint32_t live_slots;	/* readers connected or attached */
	uint64_t evictions;	/* readers evicted after the grace period */
	uint64_t reclaimed;	/* slots of dead readers taken back (killed, or
				 * exited without mmsync_reader_close()) */
	uint64_t last_publish_ns; /* CLOCK_REALTIME_COARSE of the last publish (to a few ms) */
	char name[64];		/* the segment's name */
	int32_t writer_pid;	/* the writer's pid (in its namespace); 0 once it closed */
	uint64_t membarriers;	/* membarriers issued for fenceless readers */
	uint64_t membarrier_failures; /* membarriers refused (then readers read fenced) */
	uint64_t futex_wakes;	/* publishes that woke mmsync_wait() sleepers */
	uint64_t wake_msgs;	/* WAKE messages sent to mmsync_reader_fd() descriptors */
	/* Slots taken back from readers that closed (mmsync_reader_close()):
	 * normal traffic, kept out of `reclaimed`. 0 from a library before 0.4. */
	uint64_t disconnects;
};

/* Version words. Bit 0 is the copy index, bits 1..39 the payload size,
 * bits 40..63 the low 24 bits of the payload hash; 0 means "nothing yet",
 * except on the native layout without checksums, where an empty payload in
 * copy 0 has the word 0 too (there st->seq, or the view's seq, is 0 only
 * before the first write). */
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
 *          next write goes to the other copy. Files found in place must be
 *          regular files with one link, owned by this process's uid, root or
 *          @opts->trust_uid; symlinks are not followed.
 * @opts:   NULL for defaults
 *
 * Return: 0, or -EINVAL (NULL or empty argument, bad opts or flags; a file
 * that is not a regular file), -ENAMETOOLONG, -EBUSY (MMSYNC_SINGLE_WRITER
 * and another writer holds the lock), -ELOOP (a symlink), -EPERM (a file of
 * another owner, or with more links), -ENOSPC (no room for the state
 * file), -ENOMEM, or the errno of open(2)/mmap(2) on the state file. Refused
 * files are logged, naming the file and its owner. mmsync_write() refuses
 * a data file the same way.
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
 *            (compat), or they are evicted (native). 0 means no grace at
 *            all: reset or evict at once (not "the default", as 0 is in an
 *            options struct)
 * @info:     receives what was done; may be NULL
 *
 * Copies @data into the inactive copy, then publishes it with one atomic
 * store. Readers see the old version or the new one, never a mix.
 *
 * Compat layout: waits for the readers counted on the inactive copy, up to
 * @grace_ns; past it their count is reset (info->reset), or with
 * MMSYNC_NO_RESET the write fails with -ETIMEDOUT and publishes nothing.
 * A reset is not harmless: the count has no owner, so a reader that held
 * the copy past the grace period may, at its mmsync_read_end(), take the
 * count of a later reader, whom a later write then overwrites (README,
 * "The file layout"). MMSYNC_NO_RESET never overwrites a counted reader.
 *
 * Native layout: first waits until no reader can still be on the inactive
 * copy (the waits of the previous write, deferred so that a write returns
 * as soon as its version is visible). A reader the writer has seen hold its
 * view for @grace_ns is evicted (info->evicted; its mmsync_read_end() will
 * say -ESTALE); a dead reader's slot is taken back at once. Whatever the
 * readers do, a write waits at most 2 * @grace_ns. A payload larger than
 * the capacity first makes larger copies (a new generation).
 *
 * Return: 0, or -EINVAL, -EMSGSIZE (@len above MMSYNC_MAX_PAYLOAD), -ENOSPC
 * (the copy cannot grow; nothing is published), -ENOMEM (no memory, or no
 * huge pages, for a new generation), -ETIMEDOUT (compat, MMSYNC_NO_RESET:
 * readers held the copy past @grace_ns), -ECHILD (native: a forked child's
 * copy of a writer whose service thread runs in the parent, see fork() at
 * the top), or the errno of
 * open(2)/fallocate(2)/mmap(2). On error the published version is unchanged.
 */
MMSYNC_API int mmsync_write(struct mmsync_writer *w, const void *data, size_t len,
			    uint64_t grace_ns, struct mmsync_write_info *info);

/**
 * mmsync_write_from_fd() - publish @len bytes read from a file descriptor
 * @fd:     a file (page cache or O_DIRECT), a pipe or a socket
 * @offset: where to read in @fd; -1 reads from its current position (pipes)
 * @len:    payload size
 * @grace_ns, @info: as mmsync_write()
 *
 * Reads straight into the inactive copy, no bounce buffer: on the native
 * layout with io_uring (IORING_OP_READ, opts.chunk_size bytes a request,
 * opts.queue_depth in flight), on the compat layout with pread(2). The
 * native layout reads with pread(2) too (read(2) for -1) where io_uring is
 * refused or libmmsync was built without it (meson -Dio_uring). Short
 * reads are resumed. With O_DIRECT, @offset must be a multiple of 4096.
 * If anything fails, nothing is published: the current version stays.
 *
 * Return: 0, or -EINVAL, -EBUSY (a write_begin() is open), -ENODATA (the
 * file ended before @len bytes), -EMSGSIZE, -ETIMEDOUT, -ECHILD (as
 * mmsync_write(), before anything is read from @fd), or the errno of the read.
 */
MMSYNC_API int mmsync_write_from_fd(struct mmsync_writer *w, int fd, int64_t offset, size_t len,
				    uint64_t grace_ns, struct mmsync_write_info *info);

/**
 * mmsync_write_begin() - build the next version in place
 * @len:      the most bytes the caller will write
 * @grace_ns: as mmsync_write()
 * @ptr:      receives the inactive copy's memory, @len bytes, prefaulted
 *
 * Waits for readers to leave the inactive copy (as mmsync_write() does) and
 * hands it over: the caller writes the payload there itself, then calls
 * mmsync_write_commit() to publish it or mmsync_write_abort() to drop it.
 * Readers go on reading the current version meanwhile.
 *
 * Return: 0, or -EINVAL, -EBUSY (already begun), -EMSGSIZE, -ENOMEM/-ENOSPC,
 * -ETIMEDOUT, -ECHILD (as mmsync_write(): nothing is begun).
 */
MMSYNC_API int mmsync_write_begin(struct mmsync_writer *w, size_t len, uint64_t grace_ns,
				  void **ptr);

/**
 * mmsync_write_commit() - publish what was built since mmsync_write_begin()
 * @len: the payload's size, at most the @len given to begin
 *
 * Return: 0, or -EINVAL (nothing begun, or @len too large), -ECHILD (as
 * mmsync_write(): nothing is published).
 */
MMSYNC_API int mmsync_write_commit(struct mmsync_writer *w, size_t len,
				   struct mmsync_write_info *info);

/**
 * mmsync_write_abort() - drop what was built since mmsync_write_begin()
 *
 * Return: 0, or -EINVAL (nothing begun), -ECHILD (as mmsync_write():
 * nothing is dropped).
 */
MMSYNC_API int mmsync_write_abort(struct mmsync_writer *w);

/**
 * mmsync_writer_close() - unmap, close and free; the files stay. NULL is a no-op.
 *
 * Native: stops and joins the service thread first, if any; then readers
 * still connected find the writer gone (-EPIPE from mmsync_reader_check())
 * and read the last version on. Removes the socket file and, unless
 * MMSYNC_KEEP_PINS, the BPF pins: in the writer's process only (see fork()
 * at the top); a forked child closing the copy it inherited releases its
 * own references and changes nothing of its parent's.
 */
MMSYNC_API void mmsync_writer_close(struct mmsync_writer *w);

/**
 * mmsync_writer_stat() - the segment's figures, as the writer sees them
 * @st: st->sz set by the caller, as for mmsync_reader_stat()
 *
 * What mmsync_reader_stat() gives a reader of the segment: on the native
 * layout the header's figures as of the last write or dispatch, on the
 * compat layout the state file's version word and counts.
 *
 * Return: 0, or -EINVAL. With nothing published, st->version is 0.
 */
MMSYNC_API int mmsync_writer_stat(struct mmsync_writer *w, struct mmsync_stat *st);

/**
 * mmsync_writer_create() - create the writer of a native segment
 * @w:    receives the handle
 * @name: names the segment (memfd names, the handshake, the BPF pins under
 *        /sys/fs/bpf/mmsync/NAME/); 1..63 characters of [A-Za-z0-9_-]
 * @opts: NULL for defaults
 *
 * Makes the header and two copies of @opts->capacity bytes: memfds (or
 * MFD_HUGETLB memfds, or files in @opts->hugetlbfs_dir), sealed so that no
 * one can shrink or grow them (F_SEAL_SHRINK, F_SEAL_GROW) nor, once the
 * writer has mapped them, write them by any other descriptor
 * (F_SEAL_FUTURE_WRITE), and no seal can be removed (F_SEAL_SEAL).
 * mmsync_write() publishes into them; readers get them through
 * mmsync_writer_listen() or mmsync_writer_export_fds().
 *
 * Return: 0, or -EINVAL (bad name or opts), -EEXIST (with BPF: a live
 * writer of this name, in any pid namespace, holds its pins; a dead
 * writer's pins are replaced), -ENOMEM (-ENOMEM also when no huge page is
 * free for MMSYNC_HUGETLB), or the errno of memfd_create(2), open(2) or
 * mmap(2).
 */
MMSYNC_API int mmsync_writer_create(struct mmsync_writer **w, const char *name,
				    const struct mmsync_native_opts *opts);

/**
 * mmsync_writer_listen() - serve the segment on a Unix socket
 * @path: a socket path, "@name" for an abstract socket, or NULL to use the
 *        socket handed over by systemd (LISTEN_FDS, LISTEN_PID)
 * @opts: who may connect, the socket's mode; NULL for defaults
 *
 * Each peer is checked (SO_PEERCRED) against the allow-lists; an allowed
 * peer gets one message: a versioned header and the descriptors of the
 * header (read-only), both copies (read-only) and a slot object of its own.
 * A refused peer is logged and gets no descriptor. Connections are handled
 * by mmsync_writer_dispatch(), which the caller calls when
 * mmsync_writer_fd() polls readable, or, with MMSYNC_LISTEN_SERVE in
 * @opts->flags, by the writer's service thread, started here. A writer that
 * does neither serves no reader: their connects end in -ETIMEDOUT. The
 * socket file is removed at close. At most 16 handshakes may be unread at a
 * time (their descriptors are in flight, charged to the writer's user): a
 * peer past that is told to try again (mmsync_reader_connect() does), and
 * one that leaves its handshake unread for 10 s is disconnected (its slot
 * is taken back when it has gone). Refusals are logged ten a second at
 * most (the rest counted in one line a second), so that a peer connecting
 * in a loop cannot flood the log.
 *
 * Return: 0, or -EINVAL (bad opts, or a flag other than MMSYNC_LISTEN_SERVE,
 * such as another options struct's), -EBUSY (already listening),
 * -EADDRINUSE (something is at @path: only a socket nobody listens on, a
 * dead writer's, is removed and replaced), -ENAMETOOLONG, -ENOTSOCK (no
 * usable LISTEN_FDS socket),
 * -ECHILD (as mmsync_write()), -EAGAIN (no thread could be started;
 * then nothing listens), or the errno of socket(2)/bind(2)/eventfd(2).
 */
MMSYNC_API int mmsync_writer_listen(struct mmsync_writer *w, const char *path,
				    const struct mmsync_listen_opts *opts);

/**
 * mmsync_writer_fd() - a descriptor that polls readable when
 * mmsync_writer_dispatch() has work (a reader connecting or leaving)
 *
 * Return: the descriptor (owned by the writer), or -EINVAL, -EBUSY (the
 * service thread serves the socket: there is nothing to poll), -ECHILD (as
 * mmsync_write()).
 */
MMSYNC_API int mmsync_writer_fd(struct mmsync_writer *w);

/**
 * mmsync_writer_dispatch() - accept and serve connecting readers, take back
 * the slots of readers that left or died, refresh the figures in the header
 *
 * Never blocks, and does a bounded amount of work: it accepts 16
 * connections at most (more stay queued, and mmsync_writer_fd() stays
 * readable). Call it when mmsync_writer_fd() polls readable, and now and
 * then (the figures readers see in mmsync_reader_stat() are those of the
 * last dispatch or write). A reader connects only while its writer
 * dispatches (or runs the service thread): a loop that calls this between
 * writes leaves connecting readers waiting for as long as a write waits for
 * its readers, up to twice its grace period.
 *
 * Return: 0, or -EINVAL, -EBUSY (the service thread dispatches,
 * MMSYNC_LISTEN_SERVE: nothing was done, nothing needs doing), -ECHILD (as
 * mmsync_write()).
 */
MMSYNC_API int mmsync_writer_dispatch(struct mmsync_writer *w);

/**
 * mmsync_writer_export_fds() - descriptors for readers started by this process
 * @fds: receives MMSYNC_NR_FDS new descriptors (indexed by MMSYNC_FD_*), with
 *       FD_CLOEXEC set; clear it on those a child must inherit across exec.
 *
 * Readers made from these share one slot table, which each of them can
 * write: give them only to trusted readers. Untrusted readers connect to the
 * socket instead, where each gets a slot object of its own. The descriptors
 * stay valid for the current generation only (see mmsync_reader_from_fds()).
 *
 * Return: 0, or -EINVAL, -ECHILD (as mmsync_write()), or the errno of
 * open(2). The caller closes them.
 */
MMSYNC_API int mmsync_writer_export_fds(struct mmsync_writer *w, int fds[MMSYNC_NR_FDS]);

/**
 * mmsync_reader_open() - open a reader of a compat-layout segment
 * @r:      receives the handle
 * @prefix: the writer's prefix. The files need not exist yet: reads return
 *          -ENOENT until they do. They are used only if they are regular
 *          files with one link owned by this process's uid, root or
 *          @opts->trust_uid (else mmsync_read_begin() returns -ELOOP for a
 *          symlink, -EINVAL for another type, -EPERM for another owner, and
 *          the refusal is logged).
 * @opts:   NULL for defaults
 *
 * Return: 0, or -EINVAL, -ENAMETOOLONG, -ENOMEM.
 */
MMSYNC_API int mmsync_reader_open(struct mmsync_reader **r, const char *prefix,
				  const struct mmsync_reader_opts *opts);

/**
 * mmsync_reader_connect() - a reader of a native segment, from its socket
 * @path: the writer's socket path, or "@name" for an abstract socket
 *
 * Receives and checks the writer's handshake: magic, protocol and layout
 * versions, descriptor types, sizes (fstat) and seals (F_GET_SEALS); maps the
 * header and the copies read-only. The connection stays open: the writer
 * sends the copies of a new generation on it, which the next
 * mmsync_read_begin() takes up by itself, and the writer learns the reader
 * is gone when it closes. Needs no file system access after the connect.
 *
 * Return: 0, or -EINVAL, -ENOMEM, -ECONNREFUSED (no writer; or the writer
 * refused this peer), -EPERM (the writer runs as a uid this reader does not
 * trust: see trust_uid and MMSYNC_ANY_WRITER; logged), -EUSERS (the writer
 * has max_readers readers), -EAGAIN (the writer could not serve this
 * reader, asked again until the timeout: it is out of descriptors or
 * memory, or 16 readers have not read their handshake yet; it logs which),
 * -EPROTO
 * (not an mmsync writer, or another
 * protocol version), -EBADMSG (a descriptor of the wrong type, size or
 * seals; unsealed copies without MMSYNC_TRUST_UNSEALED), -EOPNOTSUPP
 * (MMSYNC_VERIFY_CHECKSUM on a segment published without checksums),
 * -ENOTSUP (MMSYNC_FENCELESS where this process may not register for
 * membarriers or the writer cannot issue them), -ETIMEDOUT (the writer
 * accepted no connection in time: within @opts->timeout_ms no handshake
 * came, or its socket's queue, full, took no more. Does it call
 * mmsync_writer_dispatch(), when mmsync_writer_fd() polls readable and
 * between writes, or run the service thread (MMSYNC_LISTEN_SERVE)? A loop
 * that dispatches only between writes leaves a connect waiting for as
 * long as a write waits for its readers, up to twice its grace period.),
 * or the errno of socket(2)/connect(2)/mmap(2).
 */
MMSYNC_API int mmsync_reader_connect(struct mmsync_reader **r, const char *path,
				     const struct mmsync_reader_opts *opts);

/**
 * mmsync_reader_from_fds() - a reader of a native segment, from descriptors
 * @fds: MMSYNC_NR_FDS descriptors from mmsync_writer_export_fds() (inherited
 *       or received); the reader duplicates what it keeps, the caller may
 *       close them afterwards
 *
 * Checks the descriptors as mmsync_reader_connect() does and claims a free
 * slot of the shared table (an OFD lock on it, so the writer sees when this
 * reader dies). The lock must sit on an open file description of the
 * reader's own: it reopens the table through /proc/self/fd, and where there
 * is no /proc, or the reader runs as another uid than the writer (the
 * writer's objects are mode 0600), it uses the one in @fds, so that each
 * such reader needs a set of its own from mmsync_writer_export_fds(). When the writer starts a new
 * generation, reads return -ESTALE: the descriptors are stale and the
 * reader must be made again.
 *
 * Return: 0, or -EINVAL, -ENOMEM, -EUSERS (no free slot), -EPROTO, -EBADMSG,
 * -ESTALE (descriptors of an older generation), -EOPNOTSUPP, -ENOTSUP (as
 * mmsync_reader_connect()), or the errno of open(2)/mmap(2).
 */
MMSYNC_API int mmsync_reader_from_fds(struct mmsync_reader **r, const int fds[MMSYNC_NR_FDS],
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
 * Native layout: wait-free, no retry, no system call; -ESTALE when the
 * descriptors came from mmsync_reader_from_fds() and the writer has started
 * a new generation; -EPIPE when the writer closed the connection;
 * -ECONNRESET when the writer revoked this reader (its connection failed:
 * it sent data, hung up, or its socket could not take a new generation):
 * make a new reader; when a writer refuses to hand over a new generation,
 * the errno it gives. A new generation never shows before its first
 * version is published: a reader connecting while a growing write is
 * under way, failed or aborted reads the version published.
 *
 * Return: 0, or -EINVAL, -EBUSY (this handle already holds a view), -ENOENT
 * (no state file yet), -ENODATA (nothing published yet), -EBADMSG (state
 * file of the wrong size, data file shorter than the version says, missing
 * data file, or with MMSYNC_VERIFY_CHECKSUM a hash mismatch), -EACCES,
 * -ELOOP, -EINVAL, -EPERM (compat: a file refused, see mmsync_reader_open()),
 * -ENOSPC (compat: a page of a sparse file cannot be had on a full file
 * system), or the errno of open(2)/mmap(2).
 *
 * Inline (mmsync_read.h): on the native layout the common case is a few
 * loads and stores in the caller; the rest is mmsync_read_begin_call().
 */
static inline int mmsync_read_begin(struct mmsync_reader *r, struct mmsync_view *view);

/**
 * mmsync_read_end() - end a read started by mmsync_read_begin()
 *
 * Return: 0, -EINVAL (@view is not this handle's open view), or -ESTALE:
 * the view was held past the writer's grace period (native: the writer
 * evicted or revoked this reader, or, with a fenceless reader, lost its
 * membarrier; compat: it reset the copy's reader count), so its
 * bytes may have been overwritten while it was held: discard what was read.
 * Either way the view is closed.
 *
 * Compat layout: -ESTALE when the version word now names the view's copy
 * with another version (the copy was republished: no count is dropped, it
 * is no longer this reader's), or when the copy's count is 0 (reset). When
 * the word names the other copy it cannot tell whether its copy is being
 * overwritten, or was republished and left again, if another reader has
 * since counted itself on the copy: then it returns 0 for overwritten
 * bytes, and takes that reader's count. Only a writer that resets makes
 * this possible; with MMSYNC_NO_RESET, or while the writer never resets
 * (info->reset), 0 is exact. The README's "The file layout" has an example.
 * Inline (mmsync_read.h), as mmsync_read_begin().
 */
static inline int mmsync_read_end(struct mmsync_reader *r, struct mmsync_view *view);

/**
 * mmsync_view_hold() - keep the memory under a view mapped past its read
 * @r:    reader
 * @view: @r's open view (between mmsync_read_begin() and mmsync_read_end())
 * @hold: receives the hold, to give to mmsync_hold_release(); NULL for a
 *        view of 0 bytes (there is nothing to keep)
 *
 * For bindings, whose objects (a Python memoryview, a numpy array) may
 * still point into a view after its read has ended: the copy's mapping
 * that the view lies in stays mapped, readable, until the hold is
 * released, past mmsync_read_end(), a new generation of copies, a grown
 * compat data file mapped again and mmsync_reader_close(). It keeps the
 * mapping, not the version: once the read has ended the writer may
 * overwrite those bytes at any time, so they are the version's only
 * between begin and end. A mapping the reader has left stays allocated
 * (the whole copy) until its last hold goes. Costs an allocation the
 * first time a mapping is held, an atomic increment after.
 *
 * Return: 0, or -EINVAL (@view is not @r's open view), -ENOMEM.
 */
MMSYNC_API int mmsync_view_hold(struct mmsync_reader *r, const struct mmsync_view *view,
				struct mmsync_hold **hold);

/**
 * mmsync_hold_release() - release a hold of mmsync_view_hold(), unmapping
 * the memory if the reader has left it and no other hold remains
 *
 * Callable from any thread, before or after the reader's close. NULL is a
 * no-op.
 */
MMSYNC_API void mmsync_hold_release(struct mmsync_hold *hold);

/**
 * mmsync_reader_check() - whether the native writer is still there
 *
 * The writer holds an open-file-description lock on the header for as long
 * as it lives; this probes it (one fcntl(2)). A reader whose writer has gone
 * goes on reading the last version published, whole; to follow a restarted
 * writer, make a new reader.
 *
 * Return: 0 while the writer lives, -EPIPE once it has gone (closed, exited
 * or killed), -ECONNRESET when it revoked this reader (see
 * mmsync_read_begin()), -EOPNOTSUPP on the compat layout, -EINVAL.
 */
MMSYNC_API int mmsync_reader_check(struct mmsync_reader *r);

/**
 * mmsync_wait() - sleep until a version newer than this handle's last read
 * @r:          reader, with no view open
 * @timeout_ns: the longest wait; 0 only looks, UINT64_MAX waits for ever
 *
 * Returns at once when the writer has published since the handle's last
 * mmsync_read_begin() (or, before any read, when anything is published);
 * else sleeps until a publish. Signals do not end the wait: it sleeps again
 * for the time left. Read the new version with mmsync_read_begin().
 *
 * Native layout: the writer wakes the sleepers (a futex; a publish when no
 * reader waits makes no system call). The writer's death is seen within
 * 0.2 s (the sleep is cut into pieces that end with mmsync_reader_check()),
 * at once when it closes the writer.
 *
 * Compat layout: only mmsync's writer with MMSYNC_WAKE_WAITERS wakes
 * sleepers; otherwise (the Rust crate's writer, mmsync's by default) a
 * publish is seen within 10 ms. Version words can repeat: a publish of
 * the very bytes of the version read before, or of A then B then A while
 * the reader was away, looks like no publish.
 *
 * Return: 0, or -ETIMEDOUT, -EBUSY (a view is open), -EPIPE (native: the
 * writer has gone), -ECONNRESET (native: the writer revoked this reader),
 * -EINVAL, or (compat) an error of mapping the state file as
 * mmsync_read_begin(). Never -EINTR.
 */
MMSYNC_API int mmsync_wait(struct mmsync_reader *r, uint64_t timeout_ns);

/**
 * mmsync_reader_fd() - a descriptor to poll for a new version
 * @r: reader
 *
 * A descriptor for poll(2), epoll(7) or io_uring's POLL_ADD that polls
 * readable (POLLIN, level-triggered) while a version newer than the
 * handle's last read may be published. Every read of the handle
 * (mmsync_read_begin()) re-arms it: after the read it is readable again
 * only once a newer version comes. A wake-up may be spurious (the read
 * finds view.switched false): read, and poll again.
 *
 * The handle owns the descriptor: do not read, close or change it; it is
 * closed by mmsync_reader_close(). Asking again returns the same one.
 *
 * Native layout, from mmsync_reader_connect(): the writer wakes it with a
 * message on the connection, only while it is armed. A hang-up (the
 * writer died or closed, or dropped this reader) leaves it readable for
 * good: a read that finds nothing new should ask mmsync_wait(r, 0), which
 * then says -EPIPE or -ECONNRESET. Once asked for, every read of the
 * handle goes through the library (mmsync_read_begin_call()) and re-arming
 * costs a system call (three after a wake-up): for programs that sleep
 * between versions, not for busy readers.
 *
 * Compat layout, and native readers from mmsync_reader_from_fds() (no
 * connection to be woken through): a timer that fires 10 ms after each
 * read (at once when a newer version is there), so a publish is seen
 * within 10 ms and an idle reader wakes 100 times a second. mmsync_wait()
 * is the better choice there.
 *
 * Return: the descriptor (above 2, close-on-exec), or -EINVAL, -EMFILE,
 * -ENOMEM, or the errno of epoll_create1(2)/eventfd(2)/timerfd_create(2).
 */
MMSYNC_API int mmsync_reader_fd(struct mmsync_reader *r);

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
 * mmsync_stat_pinned() - read the figures of a segment from its BPF pin
 * @name: the segment's name, as pinned under /sys/fs/bpf/mmsync/NAME/
 * @st:   st->sz set by the caller, as for mmsync_reader_stat()
 *
 * Needs no connection to the writer: the pinned state map holds a copy of
 * the header that the writer refreshes at each write and dispatch (and
 * that stays after the writer closed with MMSYNC_KEEP_PINS).
 *
 * Return: 0, or -EINVAL, -ENOENT (no such pin), -EBADMSG, -EPERM, -ENOSYS
 * (libmmsync was built without BPF: there are no pins to read). -ENOSYS
 * comes before any argument is looked at: mmsync_stat_pinned(NULL, NULL)
 * returns it without BPF and -EINVAL with it.
 */
MMSYNC_API int mmsync_stat_pinned(const char *name, struct mmsync_stat *st);

/**
 * mmsync_stat_prometheus() - figures as Prometheus exposition text
 * @st:  @n figures of native segments (mmsync_reader_stat(), mmsync_stat_pinned())
 * @buf: receives the text, 0-terminated
 * @len: size of @buf; 2048 * (@n + 1) bytes is always enough (the HELP and
 *       TYPE lines, then at most 1536 bytes a segment)
 *
 * Families mmsync_info, mmsync_write_seq, mmsync_payload_bytes,
 * mmsync_readers{copy}, mmsync_reader_slots_live, mmsync_evictions_total,
 * mmsync_dead_readers_reclaimed_total, mmsync_reader_disconnects_total,
 * mmsync_membarriers_total, mmsync_membarrier_failures_total,
 * mmsync_last_publish_timestamp_seconds,
 * each with its HELP and TYPE lines once and a sample per segment, labelled
 * name="NAME". For one segment the text is line for line what
 * `cat /sys/fs/bpf/mmsync/NAME/metrics` prints.
 *
 * Return: the length of the text, or -EINVAL (figures that are not a
 * native segment's), -ENOSPC (@buf too small).
 */
MMSYNC_API int mmsync_stat_prometheus(const struct mmsync_stat *st, size_t n, char *buf, size_t len);

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

#include "mmsync_read.h"

#ifdef __cplusplus
}
#endif

#endif /* MMSYNC_H */
