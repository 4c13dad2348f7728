/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-suite: mmsync next to what people use instead of it, all in
 * one run, each contender in processes of its own: one writer process and
 * two reader processes per contender, forked at the start and driven by
 * this process through a shared control page. Medians over rounds with the
 * min..max spread, printed as tables and optionally written as JSON.
 * Figures, not assertions: the targets are reported as met or MISSED; the
 * exit status only says whether the run itself worked.
 *
 *   mmsync-bench-suite [--quick] [--json FILE] [--rounds N]
 *   mmsync bench [--quick] [--json FILE] [--rounds N]
 *
 * Contenders
 *   1. mmsync native, reader opts MMSYNC_FENCELESS   (memfd copies; the
 *   2. mmsync native, reader opts MMSYNC_FENCED       writer serves connects
 *                                                     on an abstract socket)
 *   3. mmsync compat layout, files in /dev/shm
 *   4. LMDB: the payload under one key, env on /dev/shm; a read renews a
 *      read-only transaction (mdb_txn_renew, mdb_get, mdb_txn_reset), a
 *      publish is one write transaction
 *   5. POSIX shared memory guarded by a process-shared pthread rwlock
 *   6. a seqlock over POSIX shared memory: readers copy the payload out
 *
 * Figures
 *   a. one read of a 36-byte payload, one reader process, writer idle: ns
 *   b. reads/s with 1 and with 2 reader processes reading flat out while the
 *      writer publishes 36 B 1000 times a second; scaling = 2 readers / 1
 *   c. one write of 36 B, 4 KiB, 1 MiB, 64 MiB with one idle reader
 *      connected: ns and GB/s, beside memcpy into a prefaulted buffer (and,
 *      not judged, memcpy into two buffers in turn, as a writer fills its
 *      two copies: what the double buffering alone costs)
 *   d. the writer's latency (p50, p99, max) for those 36 B writes while two
 *      readers read flat out: taken in the 2-reader phases of b, which are
 *      exactly that situation, so the run pays for them once; and beside
 *      it (full runs) the fenceless writer's membarrier alone, on the same
 *      schedule with the same two readers busy: what each such write pays
 *      for the readers' missing fence, whatever the library does
 *
 * A read is begin, touch, end: the touch loads the payload's first and last
 * bytes, which each write sets equal, so that a torn read would be seen
 * (counted, and reported if any). The seqlock's read is its copy-out, as
 * it must be: its bytes are only known good once copied and re-checked.
 *
 * Rounds of different contenders alternate within each part (rotating the
 * order), so that drift of the machine, a VM here, falls on all alike and
 * the ratios of the targets compare figures taken side by side. What it
 * cannot cancel is other load: with two CPUs and three busy processes of
 * ours in b and d, anyone else's work halves b and makes d's tails. So the
 * run ends by saying how much CPU time other processes took meanwhile.
 *
 * --quick: 3 rounds, shorter rounds and phases, under 30 s. The default
 * run (11 rounds, 1 s phases) takes about two minutes and three quarters.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_figures.h"
#include "mmsync.h"


#define PAYLOAD 36		/* the small payload of figures a, b and d */
#define MAX_PAYLOAD (64 * MiB)	/* the largest write of figure c: every
				 * region, copy and map has room for it */
#define GRACE_NS 1000000000ull	/* mmsync: readers never hold a view for long
				 * here; a preempted one is waited for, as it
				 * would be in use */
#define RATE_PERIOD_NS 1000000u	/* figures b and d: 1000 publishes a second */
#define RATE_BARRIER 1		/* CMD_RATE's size: a membarrier instead of each write */
#define LMDB_MAPSIZE (1ull << 30) /* room for the 64 MiB value, the one it
				   * replaces and the free pages between */
#define SHM_DATA_OFF 64		/* rwlock/seqlock regions: header line, then data */
#define MAX_ROUNDS 1000
#define N_SIZES 4
#define WARM_ROUNDS 2		/* c: unrecorded rounds of each size first. LMDB's
				 * first 64 MiB puts grow its file (fresh pages,
				 * ~50 ms a put here), later ones reuse pages (~6 ms) */
#define MEMCPY NK		/* c's baselines, after the contenders */
#define MEMCPY2 (NK + 1)
#define NB (NK + 2)

static const uint64_t write_sizes[N_SIZES] = { PAYLOAD, 4 * KiB, 1 * MiB, 64 * MiB };

enum kind { K_FENCELESS, K_FENCED, K_COMPAT, K_LMDB, K_RWLOCK, K_SEQLOCK, NK };

static const struct {
	const char *name, *key;
} kinfo[NK] = {
	{ "mmsync native, fenceless", "mmsync_native_fenceless" },
	{ "mmsync native, fenced", "mmsync_native_fenced" },
	{ "mmsync compat (/dev/shm)", "mmsync_compat" },
	{ "LMDB (/dev/shm)", "lmdb" },
	{ "shm + pthread rwlock", "shm_rwlock" },
	{ "shm + seqlock", "shm_seqlock" },
};

enum role { WRITER, READER1, READER2, NROLES };
static const char *const role_name[NROLES] = { "writer", "reader 1", "reader 2" };

/* ---- plumbing: clock, errors ---- */


static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the words live in a MAP_SHARED page that
	 * the parent and the children wait on together. */
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Set by SIGINT/SIGTERM in every process (the handler is inherited): the
 * children leave their loops and close their handles, so that sockets and
 * BPF pins go; the parent stops them all and removes the files. */
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}


/* ---- the control page shared by the parent and its children ---- */

enum cmd {
	CMD_OPEN = 1,	/* writer: create and publish 36 B; reader: attach, read once */
	CMD_READ_CAL,	/* reads for about a_ns: r_n = reads a round of a_ns takes */
	CMD_READ_ROUND,	/* a_n reads: r_ns */
	CMD_READ_FLAT,	/* reads until stop: r_n reads in r_ns */
	CMD_WRITE_CAL,	/* writes of a_size for about a_ns: r_n = writes a round takes */
	CMD_WRITE_ROUND, /* a_n writes of a_size: r_ns */
	CMD_RATE,	/* 36 B writes every a_ns until stop: latency figures */
	CMD_EXIT,
};

enum { ERR_NONE, ERR_FATAL, ERR_UNAVAILABLE };

/* One child's mailbox: the parent fills the arguments, bumps seq and kicks
 * the child's eventfd; the child answers in the results, sets done = seq
 * and wakes the parent's futex. Nobody spins: an idle child sleeps in
 * poll(), which is what keeps 18 processes off the 2 CPUs of the timed one. */
struct ctl {
	_Atomic uint32_t seq;
	_Atomic uint32_t done;
	uint32_t cmd;
	int efd;
	pid_t pid;		/* 0 once reaped */
	uint64_t a_size, a_n, a_ns;
	int err;		/* ERR_* */
	char msg[256];		/* what failed, or why unavailable */
	char note[256];		/* said with the figures (a fallback taken) */
	uint64_t r_n, r_ns;
	uint64_t torn, stale;	/* reads whose first and last bytes differed;
				 * native reads evicted (-ESTALE), read again */
	uint64_t lat_n, lat_late;
	double lat_p50, lat_p99, lat_max; /* ns */
} __attribute__((aligned(64)));

static struct shared {
	struct {
		_Atomic uint32_t v;
	} __attribute__((aligned(64))) stop; /* ends READ_FLAT and RATE; on a line of
					      * its own: readers load it all the time */
	struct ctl ctl[NK][NROLES];
} *S;

/* Names of this run's objects (pid in each: runs do not meet). */
static char compat_prefix[96], lmdb_path[96], lmdb_lock[104], shm_rw[64], shm_seq[64];
static char native_name[2][64], native_sock[2][80];

/* ---- the children ---- */

static struct ctl *me;		/* the child's mailbox */
static enum kind my_kind;

struct wctx {
	struct mmsync_writer *mw;
	int wfd;		/* native: mmsync_writer_fd(), polled while idle */
	MDB_env *env;
	MDB_dbi dbi;
	unsigned char *region;	/* rwlock and seqlock: the mapped region */
	size_t region_len;
	unsigned char *src;	/* MAX_PAYLOAD bytes, prefaulted */
	uint64_t *lat;		/* RATE: one sample per write */
	size_t lat_cap;
};

struct rctx {
	struct mmsync_reader *mr;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char *region;
	size_t region_len;
	unsigned char *buf;	/* seqlock: where reads copy to */
	uint64_t torn, stale;
};

static struct wctx W = { .wfd = -1 };
static struct rctx R;
static bool is_writer, opened;

/* The regions' headers: one cache line, the data after it. */
struct rw_hdr {
	pthread_rwlock_t lock;
	uint64_t len;
};

struct seq_hdr {
	_Atomic uint64_t seq;	/* odd while the writer copies */
	_Atomic uint64_t len;
};

_Static_assert(sizeof(struct rw_hdr) <= SHM_DATA_OFF, "rwlock header fits its line");

static void child_close(void)
{
	if (!opened)
		return;
	opened = false;
	if (is_writer) {
		mmsync_writer_close(W.mw); /* removes the socket and the BPF pins */
		if (W.env)
			mdb_env_close(W.env);
		if (W.region)
			munmap(W.region, W.region_len);
	} else {
		mmsync_reader_close(R.mr);
		if (R.txn)
			mdb_txn_abort(R.txn);
		if (R.env)
			mdb_env_close(R.env);
		if (R.region)
			munmap(R.region, R.region_len);
	}
}

/* Ends the child: handles closed, never exit(): the parent's atexit
 * handlers and stdio buffers were inherited and are not ours to run. */
static void child_exit(int code) __attribute__((noreturn));

static void child_exit(int code)
{
	child_close();
	_exit(code);
}

static void child_answer(void)
{
	atomic_store(&me->done, atomic_load(&me->seq));
	futex(&me->done, FUTEX_WAKE, INT32_MAX, NULL);
}

/* Reports what failed in the current command and ends the child. */
static void cfail_(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn, cold));

static void cfail_(int kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(me->msg, sizeof(me->msg), fmt, ap);
	va_end(ap);
	me->err = kind;
	child_answer();
	child_exit(1);
}

#define cfail(...) cfail_(ERR_FATAL, __VA_ARGS__)

static void check_mm(int err, const char *what)
{
	if (err)
		cfail("%s: %s", what, mmsync_strerror(err));
}

static void check_mdb(int err, const char *what)
{
	if (err)
		cfail("%s: %s", what, mdb_strerror(err));
}

static void *map_shm(const char *name, int oflag, int prot, size_t *len)
{
	int fd = shm_open(name, oflag, 0600);
	struct stat st;
	if (fd < 0)
		cfail("shm_open %s: %s", name, strerror(errno));
	if (oflag & O_CREAT) {
		if (ftruncate(fd, (off_t)*len))
			cfail("ftruncate %s: %s", name, strerror(errno));
	} else {
		if (fstat(fd, &st))
			cfail("fstat %s: %s", name, strerror(errno));
		*len = (size_t)st.st_size;
	}
	void *p = mmap(NULL, *len, prot, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		cfail("mmap %s: %s", name, strerror(errno));
	return p;
}

/* -- writes -- */

static const MDB_val lmdb_key = { 7, "payload" };

static inline void seq_write(unsigned char *region, const void *src, size_t len)
{
	struct seq_hdr *h = (struct seq_hdr *)region;
	uint64_t s = atomic_load_explicit(&h->seq, memory_order_relaxed); /* one writer */
	atomic_store_explicit(&h->seq, s + 1, memory_order_relaxed);
	/* The odd count is visible before any byte of the copy. The copy is
	 * a plain memcpy, as hand-written seqlocks do: formally a race, made
	 * harmless by the readers' re-check, which discards what they read. */
	atomic_thread_fence(memory_order_release);
	memcpy(region + SHM_DATA_OFF, src, len);
	atomic_store_explicit(&h->len, len, memory_order_relaxed);
	atomic_store_explicit(&h->seq, s + 2, memory_order_release);
}

static void do_write(const void *src, size_t len)
{
	MDB_txn *txn;
	MDB_val v = { len, (void *)src };

	switch (my_kind) {
	case K_FENCELESS:
	case K_FENCED:
	case K_COMPAT:
		check_mm(mmsync_write(W.mw, src, len, GRACE_NS, NULL), "mmsync_write");
		break;
	case K_LMDB:
		check_mdb(mdb_txn_begin(W.env, NULL, 0, &txn), "mdb_txn_begin");
		check_mdb(mdb_put(txn, W.dbi, (MDB_val *)&lmdb_key, &v, 0), "mdb_put");
		check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
		break;
	case K_RWLOCK: {
		struct rw_hdr *h = (struct rw_hdr *)W.region;
		pthread_rwlock_wrlock(&h->lock);
		memcpy(W.region + SHM_DATA_OFF, src, len);
		h->len = len;
		pthread_rwlock_unlock(&h->lock);
		break;
	}
	case K_SEQLOCK:
		seq_write(W.region, src, len);
		break;
	default:
		break;
	}
}

static void writer_open(void)
{
	int err;

	W.src = alloc_prefaulted(MAX_PAYLOAD, 0x5a);
	if (!W.src)
		cfail("no memory for the source buffer");
	W.lat_cap = 1 << 20;
	if (!(W.lat = malloc(W.lat_cap * sizeof(*W.lat))))
		cfail("no memory for latency samples");
	opened = true;
	switch (my_kind) {
	case K_FENCELESS:
	case K_FENCED: {
		int i = my_kind == K_FENCED;
		MMSYNC_OPTS(mmsync_native_opts, o, .capacity = MAX_PAYLOAD);
		check_mm(mmsync_writer_create(&W.mw, native_name[i], &o), "mmsync_writer_create");
		check_mm(mmsync_writer_listen(W.mw, native_sock[i], NULL), native_sock[i]);
		W.wfd = mmsync_writer_fd(W.mw);
		break;
	}
	case K_COMPAT:
		check_mm(mmsync_writer_open(&W.mw, compat_prefix, NULL), compat_prefix);
		break;
	case K_LMDB: {
		MDB_txn *txn;
		check_mdb(mdb_env_create(&W.env), "mdb_env_create");
		check_mdb(mdb_env_set_mapsize(W.env, LMDB_MAPSIZE), "mdb_env_set_mapsize");
		/* MDB_NOSYNC: durability is not what is compared (mmsync does
		 * not sync, and on tmpfs a sync has nothing to do anyway).
		 * MDB_WRITEMAP: mdb_put copies the value once, straight into
		 * the map, as the others do; without it each commit mallocs
		 * the value's pages and write()s them, and a 64 MiB value
		 * would be an mmap, faults and a munmap per write. */
		err = mdb_env_open(W.env, lmdb_path, MDB_NOSUBDIR | MDB_WRITEMAP | MDB_NOSYNC, 0600);
		check_mdb(err, lmdb_path);
		check_mdb(mdb_txn_begin(W.env, NULL, 0, &txn), "mdb_txn_begin");
		check_mdb(mdb_dbi_open(txn, NULL, 0, &W.dbi), "mdb_dbi_open");
		check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
		break;
	}
	case K_RWLOCK: {
		W.region_len = SHM_DATA_OFF + MAX_PAYLOAD;
		W.region = map_shm(shm_rw, O_RDWR | O_CREAT | O_EXCL, PROT_READ | PROT_WRITE, &W.region_len);
		memset(W.region, 0, W.region_len); /* prefaulted, as the others' copies are */
		struct rw_hdr *h = (struct rw_hdr *)W.region;
		pthread_rwlockattr_t a;
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		/* Otherwise the default kind, as people write it by hand. It
		 * prefers readers: a writer waits until no reader holds the
		 * lock, which with two readers reading flat out is now and
		 * then milliseconds (figure d shows it), never forever. */
		if ((err = pthread_rwlock_init(&h->lock, &a)))
			cfail("pthread_rwlock_init: %s", strerror(err));
		pthread_rwlockattr_destroy(&a);
		break;
	}
	case K_SEQLOCK:
		W.region_len = SHM_DATA_OFF + MAX_PAYLOAD;
		W.region = map_shm(shm_seq, O_RDWR | O_CREAT | O_EXCL, PROT_READ | PROT_WRITE, &W.region_len);
		memset(W.region, 0, W.region_len);
		break;
	default:
		break;
	}
	/* The payload of figure a, there before any reader comes. */
	memset(W.src, 0x11, PAYLOAD);
	do_write(W.src, PAYLOAD);
	memset(W.src, 0x5a, PAYLOAD);
}

/* -- reads: each contender's read, inlined into loops of its own, so that
 * the hand-written ones cost what they would in a program (no indirect
 * call per read); the library calls are calls either way. -- */

static void read_failed(int err, const char *what) __attribute__((noreturn, cold, noinline));

static void read_failed(int err, const char *what)
{
	cfail("%s: %s", what, err < 0 ? mmsync_strerror(err) : mdb_strerror(err));
}

static inline __attribute__((always_inline)) unsigned mm_read(struct rctx *c)
{
	struct mmsync_view v;
	int err;
	for (;;) {
		if ((err = mmsync_read_begin(c->mr, &v)))
			read_failed(err, "mmsync_read_begin");
		const unsigned char *p = v.data;
		unsigned first = p[0], last = p[v.len - 1];
		err = mmsync_read_end(c->mr, &v);
		if (__builtin_expect(!err, 1)) {
			c->torn += first != last;
			return first;
		}
		if (err != -ESTALE)
			read_failed(err, "mmsync_read_end");
		c->stale++; /* held past the grace period (preempted): read again */
	}
}

static inline __attribute__((always_inline)) unsigned lmdb_read(struct rctx *c)
{
	MDB_val v;
	int err;
	if ((err = mdb_txn_renew(c->txn)))
		read_failed(err, "mdb_txn_renew");
	if ((err = mdb_get(c->txn, c->dbi, (MDB_val *)&lmdb_key, &v)))
		read_failed(err, "mdb_get");
	const unsigned char *p = v.mv_data;
	unsigned first = p[0], last = p[v.mv_size - 1];
	mdb_txn_reset(c->txn);
	c->torn += first != last;
	return first;
}

static inline __attribute__((always_inline)) unsigned rwlock_read(struct rctx *c)
{
	struct rw_hdr *h = (struct rw_hdr *)c->region;
	pthread_rwlock_rdlock(&h->lock);
	const unsigned char *p = c->region + SHM_DATA_OFF;
	unsigned first = p[0], last = p[h->len - 1];
	pthread_rwlock_unlock(&h->lock);
	c->torn += first != last;
	return first;
}

static inline __attribute__((always_inline)) unsigned seqlock_read(struct rctx *c)
{
	const struct seq_hdr *h = (const struct seq_hdr *)c->region;
	uint64_t s, len;
	for (;;) {
		s = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (__builtin_expect(s & 1, 0)) {
			__builtin_ia32_pause();
			continue;
		}
		len = atomic_load_explicit(&h->len, memory_order_relaxed);
		if (len > MAX_PAYLOAD || !len)
			continue; /* torn header: the re-check below would fail anyway */
		memcpy(c->buf, c->region + SHM_DATA_OFF, len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_relaxed) == s)
			break;
	}
	c->torn += c->buf[0] != c->buf[len - 1];
	return c->buf[0];
}

/* Named per contender, noinline: callgrind sees each loop as a function. */
#define READ_LOOP(NAME, READ)                                                         \
	static __attribute__((noinline)) unsigned NAME(struct rctx *c, uint64_t n) \
	{                                                                             \
		unsigned s = 0;                                                       \
		for (uint64_t i = 0; i < n; i++)                                      \
			s += READ(c);                                                 \
		return s;                                                             \
	}
READ_LOOP(native_reads, mm_read)
READ_LOOP(compat_reads, mm_read)
READ_LOOP(lmdb_reads, lmdb_read)
READ_LOOP(rwlock_reads, rwlock_read)
READ_LOOP(seqlock_reads, seqlock_read)

static volatile unsigned read_sink;

static void reads(uint64_t n)
{
	unsigned s;
	switch (my_kind) {
	case K_FENCELESS:
	case K_FENCED: s = native_reads(&R, n); break;
	case K_COMPAT: s = compat_reads(&R, n); break;
	case K_LMDB: s = lmdb_reads(&R, n); break;
	case K_RWLOCK: s = rwlock_reads(&R, n); break;
	default: s = seqlock_reads(&R, n); break;
	}
	read_sink += s;
}

static void reader_open(void)
{
	int err;

	opened = true;
	switch (my_kind) {
	case K_FENCELESS:
	case K_FENCED: {
		int i = my_kind == K_FENCED;
		unsigned flag = i ? MMSYNC_FENCED : MMSYNC_FENCELESS;
		MMSYNC_OPTS(mmsync_reader_opts, o, .flags = flag);
		err = mmsync_reader_connect(&R.mr, native_sock[i], &o);
		if (err == -ENOTSUP)
			cfail_(ERR_UNAVAILABLE, "MMSYNC_FENCELESS refused: %s", mmsync_strerror(err));
		if (err == -EINVAL) {
			/* A library older than the flags (they are in the header
			 * before the code behind them lands): measured with the
			 * default flags, and said so beside the figures. */
			o.flags = 0;
			err = mmsync_reader_connect(&R.mr, native_sock[i], &o);
			if (!err)
				snprintf(me->note, sizeof(me->note),
					 "%s refused by this libmmsync (-EINVAL): measured with default flags",
					 i ? "MMSYNC_FENCED" : "MMSYNC_FENCELESS");
		}
		check_mm(err, native_sock[i]);
		break;
	}
	case K_COMPAT:
		check_mm(mmsync_reader_open(&R.mr, compat_prefix, NULL), compat_prefix);
		break;
	case K_LMDB:
		check_mdb(mdb_env_create(&R.env), "mdb_env_create");
		check_mdb(mdb_env_open(R.env, lmdb_path, MDB_NOSUBDIR | MDB_RDONLY, 0600), lmdb_path);
		check_mdb(mdb_txn_begin(R.env, NULL, MDB_RDONLY, &R.txn), "mdb_txn_begin");
		check_mdb(mdb_dbi_open(R.txn, NULL, 0, &R.dbi), "mdb_dbi_open");
		mdb_txn_reset(R.txn); /* each read renews it */
		break;
	case K_RWLOCK: /* read-write: taking the read lock writes the lock word */
		R.region = map_shm(shm_rw, O_RDWR, PROT_READ | PROT_WRITE, &R.region_len);
		break;
	case K_SEQLOCK: /* read-only: seqlock readers write nothing */
		R.region = map_shm(shm_seq, O_RDONLY, PROT_READ, &R.region_len);
		if (!(R.buf = malloc(MAX_PAYLOAD)))
			cfail("no memory for the copy-out buffer");
		break;
	default:
		break;
	}
	if (R.region && R.region_len < SHM_DATA_OFF + MAX_PAYLOAD)
		cfail("shared region of %zu bytes, too small", R.region_len);
	reads(16); /* mappings and caches warm; fails here rather than timed */
}

/* -- the timed commands -- */

/* Operations a round of @target_ns takes: runs batches, doubling, until
 * one lasts a quarter of it (which warms caches and branch predictors). */
static uint64_t calibrate(uint64_t target_ns, uint64_t max_n, void (*op)(uint64_t, uint64_t),
			  uint64_t arg)
{
	for (uint64_t n = 1;; n *= 2) {
		uint64_t t0 = now_ns();
		op(n, arg);
		uint64_t dt = now_ns() - t0;
		if (dt >= target_ns / 4 || n >= max_n) {
			double per = (double)dt / (double)n;
			uint64_t k = (uint64_t)((double)target_ns / (per > 0 ? per : 1));
			return k < 2 ? 2 : k; /* two: a write round fills both copies */
		}
	}
}

static void read_op(uint64_t n, uint64_t arg)
{
	(void)arg;
	reads(n);
}

static void write_op(uint64_t n, uint64_t size)
{
	for (uint64_t i = 0; i < n; i++)
		do_write(W.src, size);
}

static void read_flat(void)
{
	uint64_t n = 0, t0 = now_ns();
	while (!atomic_load_explicit(&S->stop.v, memory_order_relaxed) && !got_signal) {
		reads(64);
		n += 64;
	}
	me->r_ns = now_ns() - t0;
	me->r_n = n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank. */
static double pctl(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n + 0.999999);
	return (double)sorted[i ? i - 1 : 0];
}

/* 36 B writes on a fixed schedule, each timed alone: the latency a caller
 * of write sees. Between them the writer sleeps (a native writer in
 * ppoll() on its descriptor, serving connects as a real one would). A
 * writer that falls a period behind skips ahead rather than bursting. */
static void write_rate(uint64_t period, bool barrier_only)
{
	unsigned char buf[PAYLOAD];
	uint64_t next = now_ns() + period, n = 0, late = 0;

	while (!atomic_load_explicit(&S->stop.v, memory_order_relaxed) && !got_signal) {
		for (uint64_t t; (t = now_ns()) < next && !got_signal;) {
			uint64_t rem = next - t;
			struct timespec ts = { (time_t)(rem / 1000000000u), (long)(rem % 1000000000u) };
			struct pollfd p = { W.wfd, POLLIN, 0 };
			if (ppoll(&p, W.wfd >= 0, &ts, NULL) > 0)
				mmsync_writer_dispatch(W.mw);
		}
		memset(buf, (int)(n % 255 + 1), sizeof(buf)); /* first == last byte */
		uint64_t t0 = now_ns();
		if (barrier_only) /* what a write to fenceless readers pays on top */
			syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
		else
			do_write(buf, sizeof(buf));
		uint64_t t1 = now_ns();
		if (n < W.lat_cap)
			W.lat[n] = t1 - t0;
		n++;
		next += period;
		if (t1 > next + period) {
			late++;
			next = t1 + period;
		}
	}
	size_t k = n < W.lat_cap ? n : W.lat_cap;
	qsort(W.lat, k, sizeof(*W.lat), cmp_u64);
	me->lat_n = n;
	me->lat_late = late;
	me->lat_p50 = k ? pctl(W.lat, k, 0.50) : 0;
	me->lat_p99 = k ? pctl(W.lat, k, 0.99) : 0;
	me->lat_max = k ? (double)W.lat[k - 1] : 0;
}

/* a's reads, every contender's, run on one and the same CPU: the two
 * vCPUs of a VM can differ by 2x for a while (a busy neighbour on the
 * host), and a reader process the scheduler kept on the slow one would
 * carry that into its figure. */
static void pin_timed(bool on)
{
	static cpu_set_t all;
	static bool saved;
	if (!saved) {
		saved = sched_getaffinity(0, sizeof(all), &all) == 0;
		if (!saved)
			return;
	}
	cpu_set_t one = all;
	if (on) {
		int last = -1;
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &all))
				last = c;
		CPU_ZERO(&one);
		CPU_SET(last, &one);
	}
	sched_setaffinity(0, sizeof(one), &one); /* best effort: unpinned figures */
}

static void child_command(void)
{
	uint64_t t0;

	me->err = ERR_NONE;
	switch (me->cmd) {
	case CMD_OPEN:
		is_writer ? writer_open() : reader_open();
		break;
	case CMD_READ_CAL:
		pin_timed(true);
		me->r_n = calibrate(me->a_ns, UINT64_C(1) << 40, read_op, 0);
		pin_timed(false);
		break;
	case CMD_READ_ROUND:
		pin_timed(true);
		t0 = now_ns();
		reads(me->a_n);
		me->r_ns = now_ns() - t0;
		pin_timed(false);
		break;
	case CMD_READ_FLAT:
		read_flat();
		break;
	case CMD_WRITE_CAL:
		me->r_n = calibrate(me->a_ns, UINT64_C(1) << 40, write_op, me->a_size);
		break;
	case CMD_WRITE_ROUND:
		t0 = now_ns();
		write_op(me->a_n, me->a_size);
		me->r_ns = now_ns() - t0;
		break;
	case CMD_RATE:
		write_rate(me->a_ns, me->a_size == RATE_BARRIER);
		break;
	case CMD_EXIT:
		child_close();
		child_answer();
		_exit(0);
	default:
		cfail("unknown command %u", me->cmd);
	}
	me->torn = R.torn;
	me->stale = R.stale;
}

static void child_main(enum kind k, enum role role)
{
	uint32_t handled = 0;

	/* A parent that dies takes its children with it (SIGTERM: they
	 * close their handles on the way out). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	me = &S->ctl[k][role];
	my_kind = k;
	is_writer = role == WRITER;
	for (;;) {
		struct pollfd p[2] = { { me->efd, POLLIN, 0 }, { W.wfd, POLLIN, 0 } };
		/* A timeout, not -1: the library runs threads of its own in
		 * some children, and a SIGTERM delivered to one of them would
		 * not interrupt this poll. Five wake-ups a second, idle. */
		int r = poll(p, W.wfd >= 0 ? 2 : 1, 200);
		if (got_signal)
			child_exit(1);
		if (r < 0)
			continue;
		if (W.wfd >= 0 && (p[1].revents & POLLIN))
			mmsync_writer_dispatch(W.mw); /* a reader connects or leaves */
		if (p[0].revents & POLLIN) {
			uint64_t v;
			if (read(me->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				child_exit(1);
		}
		uint32_t s = atomic_load(&me->seq);
		if (s != handled) {
			child_command();
			handled = s;
			child_answer();
		}
	}
}

/* ---- the parent ---- */

static const char *json_partial;	/* the JSON file, until it is complete */
static bool cleaned;

static void cleanup(void)
{
	if (cleaned || !S)
		return;
	cleaned = true;
	/* Children still there are asked to go (SIGTERM: they close their
	 * handles), and killed if they do not within 5 s. The stop flag ends
	 * a phase of b at once, whichever thread the signal lands on. */
	atomic_store(&S->stop.v, 1);
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++)
			if (S->ctl[k][r].pid > 0)
				kill(S->ctl[k][r].pid, SIGTERM);
	uint64_t deadline = now_ns() + 5000000000ull;
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++) {
			pid_t pid = S->ctl[k][r].pid;
			if (pid <= 0)
				continue;
			while (waitpid(pid, NULL, WNOHANG) == 0) {
				if (now_ns() > deadline) {
					kill(pid, SIGKILL);
					waitpid(pid, NULL, 0);
					break;
				}
				usleep(10000);
			}
			S->ctl[k][r].pid = 0;
		}
	static const char *const suffix[] = { "_state", "_data_0", "_data_1" };
	char path[128];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", compat_prefix, suffix[i]);
		unlink(path);
	}
	unlink(lmdb_path);
	unlink(lmdb_lock);
	shm_unlink(shm_rw);
	shm_unlink(shm_seq);
	if (json_partial) /* a failed run leaves no empty or half JSON file */
		unlink(json_partial);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "\nmmsync-bench-suite: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit: children stopped, files removed */
}

static bool unavailable[NK];
static char unavailable_why[NK][256];

static void send_cmd(int k, int role, uint32_t cmd, uint64_t size, uint64_t n, uint64_t ns)
{
	struct ctl *c = &S->ctl[k][role];
	uint64_t one = 1;
	c->cmd = cmd;
	c->a_size = size;
	c->a_n = n;
	c->a_ns = ns;
	atomic_fetch_add(&c->seq, 1); /* seq_cst: the arguments are seen first */
	if (write(c->efd, &one, sizeof(one)) != sizeof(one))
		die("eventfd: %s", strerror(errno));
}

/* Waits for the child's answer; returns its err (ERR_UNAVAILABLE), dies on
 * ERR_FATAL, on a child that died and on SIGINT/SIGTERM. */
static int wait_cmd(int k, int role)
{
	struct ctl *c = &S->ctl[k][role];
	uint32_t want = atomic_load(&c->seq);
	int status;

	for (;;) {
		uint32_t d = atomic_load(&c->done);
		if (d == want)
			break;
		struct timespec ts = { 0, 200000000 };
		futex(&c->done, FUTEX_WAIT, d, &ts);
		if (got_signal)
			die("interrupted");
		if (atomic_load(&c->done) == want)
			break;
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = 0;
			die("%s, %s: process died (%s %d)", kinfo[k].name, role_name[role],
			    WIFSIGNALED(status) ? "signal" : "exit status",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	if (c->err == ERR_FATAL)
		die("%s, %s: %s", kinfo[k].name, role_name[role], c->msg);
	return c->err;
}

static int run_cmd(int k, int role, uint32_t cmd, uint64_t size, uint64_t n, uint64_t ns)
{
	send_cmd(k, role, cmd, size, n, ns);
	return wait_cmd(k, role);
}

/* A contender that cannot run here (MMSYNC_FENCELESS refused): its
 * processes go, its figures say why. */
static void drop(int k, const char *why)
{
	unavailable[k] = true;
	snprintf(unavailable_why[k], sizeof(unavailable_why[k]), "%s", why);
	for (int r = 0; r < NROLES; r++) {
		struct ctl *c = &S->ctl[k][r];
		if (c->pid <= 0)
			continue;
		if (atomic_load(&c->done) == atomic_load(&c->seq))
			send_cmd(k, r, CMD_EXIT, 0, 0, 0);
		else
			kill(c->pid, SIGTERM);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
}

static void open_role(int k, int role)
{
	if (unavailable[k])
		return;
	if (run_cmd(k, role, CMD_OPEN, 0, 0, 0) == ERR_UNAVAILABLE)
		drop(k, S->ctl[k][role].msg);
}

/* ---- figures ---- */


static const char *num_str(double v, char buf[24])
{
	snprintf(buf, 24, v < 10 ? "%.2f" : v < 1000 ? "%.1f" : "%.0f", v);
	return buf;
}

static const char *fig_str(struct fig f, char buf[80])
{
	char a[24], b[24], c[24];
	snprintf(buf, 80, "%s [%s..%s]", num_str(f.med, a), num_str(f.min, b), num_str(f.max, c));
	return buf;
}

/* A latency distribution's p50, p99 and max, as JSON members. */
static void json_tail(FILE *j, struct fig p50, struct fig p99, struct fig max)
{
	json_fig(j, "p50", p50);
	fprintf(j, ", ");
	json_fig(j, "p99", p99);
	fprintf(j, ", ");
	json_fig(j, "max", max);
}

/* The run's figures: per round first, summarized for the report. */
static struct {
	bool quick;
	int rounds;
	double phase_s;
	uint64_t read_ops[NK];
	double a_ns[NK][MAX_ROUNDS];
	double b_rate[NK][2][MAX_ROUNDS];	/* reads/s, 1 and 2 readers */
	double b_ratio[NK][MAX_ROUNDS];		/* the round's own 2/1 */
	double c_ns[NB][N_SIZES][MAX_ROUNDS];	/* [MEMCPY], [MEMCPY2]: baselines */
	uint64_t c_reps[NB][N_SIZES];
	double d_p50[NK][MAX_ROUNDS], d_p99[NK][MAX_ROUNDS], d_max[NK][MAX_ROUNDS];
	double b1_p99[NK][MAX_ROUNDS];		/* writer p99 with one reader (not judged) */
	double e_p50[MAX_ROUNDS], e_p99[MAX_ROUNDS], e_max[MAX_ROUNDS]; /* membarrier alone */
	uint64_t d_writes[NK], d_late[NK];
	uint64_t torn[NK], stale[NK];
	/* summaries */
	struct fig a[NK], b1[NK], b2[NK], bpaired[NK], c[NB][N_SIZES], cg[NB][N_SIZES];
	struct fig p50[NK], p99[NK], pmax[NK], p99_1r[NK];
	struct fig e50, e99, emax;
	double scaling[NK];
	double elapsed_s;
	double other_cpu_s;	/* CPU time of processes not ours during the run */
} F;

/* ---- other load ---- */

/* CPU time the machine spent busy, from /proc/stat (all CPUs). With the
 * run's own CPU time (getrusage) it tells how much other processes took:
 * on 2 CPUs a build next to the run halves figure b and makes d's tails. */
static double machine_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return -1;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system [idle iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double own_cpu_s(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids); /* the children, once reaped */
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			kids.ru_stime.tv_usec) / 1e6;
}

/* ---- the parts ---- */

/* a: one reader at a time, rounds of about @round_ns, contenders rotated. */
static void part_a(uint64_t round_ns)
{
	for (int k = 0; k < NK; k++)
		if (!unavailable[k]) {
			run_cmd(k, READER1, CMD_READ_CAL, 0, 0, round_ns);
			F.read_ops[k] = S->ctl[k][READER1].r_n;
		}
	for (int r = 0; r < F.rounds; r++)
		for (int j = 0; j < NK; j++) {
			int k = (j + r) % NK;
			if (unavailable[k])
				continue;
			run_cmd(k, READER1, CMD_READ_ROUND, 0, F.read_ops[k], 0);
			F.a_ns[k][r] = (double)S->ctl[k][READER1].r_ns / (double)F.read_ops[k];
		}
}

/* c's baselines, in this process: memcpy into a prefaulted buffer; and
 * into two of them in turn (@mdst has room for both). */
static unsigned char *msrc, *mdst;

static void memcpy_op(uint64_t n, uint64_t size)
{
	for (uint64_t i = 0; i < n; i++) {
		memcpy(mdst, msrc, size);
		clobber();
	}
}

static void memcpy2_op(uint64_t n, uint64_t size)
{
	for (uint64_t i = 0; i < n; i++) {
		memcpy(mdst + (i & 1) * MAX_PAYLOAD, msrc, size);
		clobber();
	}
}

static void part_c(uint64_t round_ns)
{
	/* Size by size: LMDB's free list, fragmented by mixed sizes, makes a
	 * put of 64 MiB cost anything from 6 to 500 ms from one run to the
	 * next; of one size at a time it settles within the warm-up. */
	for (int s = 0; s < N_SIZES; s++) {
		for (int k = 0; k < NK; k++)
			if (!unavailable[k]) {
				run_cmd(k, WRITER, CMD_WRITE_CAL, write_sizes[s], 0, round_ns);
				F.c_reps[k][s] = S->ctl[k][WRITER].r_n;
			}
		F.c_reps[MEMCPY][s] = calibrate(round_ns, UINT64_C(1) << 40, memcpy_op, write_sizes[s]);
		F.c_reps[MEMCPY2][s] = calibrate(round_ns, UINT64_C(1) << 40, memcpy2_op, write_sizes[s]);
		for (int r = -WARM_ROUNDS; r < F.rounds; r++)
			for (int j = 0; j < NB; j++) {
				int k = (j + r + WARM_ROUNDS) % NB;
				uint64_t reps = F.c_reps[k][s], ns;
				if (k >= NK) {
					uint64_t t0 = now_ns();
					(k == MEMCPY ? memcpy_op : memcpy2_op)(reps, write_sizes[s]);
					ns = now_ns() - t0;
				} else if (unavailable[k]) {
					continue;
				} else {
					run_cmd(k, WRITER, CMD_WRITE_ROUND, write_sizes[s], reps, 0);
					ns = S->ctl[k][WRITER].r_ns;
				}
				if (r >= 0)
					F.c_ns[k][s][r] = (double)ns / (double)reps;
			}
	}
	/* Back to the small payload before b: a reader of the seqlock copies
	 * whatever was published last. */
	for (int k = 0; k < NK; k++)
		if (!unavailable[k])
			run_cmd(k, WRITER, CMD_WRITE_ROUND, PAYLOAD, 2, 0);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		if (got_signal)
			die("interrupted");
}

/* One phase of b: the writer at 1000/s, @nr readers flat out for the
 * phase; returns the readers' summed reads/s. */
static double phase_b(int k, int nr, int round, bool barrier_only)
{
	run_cmd(k, WRITER, CMD_WRITE_ROUND, PAYLOAD, 1, 0); /* nothing left over */
	send_cmd(k, WRITER, CMD_RATE, barrier_only ? RATE_BARRIER : 0, 0, RATE_PERIOD_NS);
	sleep_ns(10000000); /* the writer's schedule under way */
	for (int i = 0; i < nr; i++)
		send_cmd(k, READER1 + i, CMD_READ_FLAT, 0, 0, 0);
	sleep_ns((uint64_t)(F.phase_s * 1e9));
	atomic_store(&S->stop.v, 1);
	double rate = 0;
	for (int i = 0; i < nr; i++) {
		wait_cmd(k, READER1 + i);
		struct ctl *c = &S->ctl[k][READER1 + i];
		rate += (double)c->r_n / ((double)c->r_ns / 1e9);
	}
	wait_cmd(k, WRITER);
	atomic_store(&S->stop.v, 0);
	struct ctl *w = &S->ctl[k][WRITER];
	if (barrier_only) {
		F.e_p50[round] = w->lat_p50 / 1e3;
		F.e_p99[round] = w->lat_p99 / 1e3;
		F.e_max[round] = w->lat_max / 1e3;
	} else if (nr == 2) {
		F.d_p50[k][round] = w->lat_p50 / 1e3;
		F.d_p99[k][round] = w->lat_p99 / 1e3;
		F.d_max[k][round] = w->lat_max / 1e3;
		F.d_writes[k] += w->lat_n;
		F.d_late[k] += w->lat_late;
	} else {
		F.b1_p99[k][round] = w->lat_p99 / 1e3;
	}
	return rate;
}

static void part_bd(void)
{
	for (int r = 0; r < F.rounds; r++)
		for (int j = 0; j < NK; j++) {
			int k = (j + r) % NK;
			if (unavailable[k])
				continue;
			/* 1 then 2 readers, or 2 then 1: drift cancels in the ratio */
			for (int i = 0; i < 2; i++) {
				int nr = (i + r) % 2 + 1;
				F.b_rate[k][nr - 1][r] = phase_b(k, nr, r, false);
			}
			F.b_ratio[k][r] = F.b_rate[k][1][r] / F.b_rate[k][0][r];
			/* What the fenceless writer's p99 is made of: the barrier
			 * alone, on the same schedule, the same two readers busy. */
			if (k == K_FENCELESS && !F.quick)
				phase_b(k, 2, r, true);
		}
}

static void summarize_all(void)
{
	int n = F.rounds;
	for (int k = 0; k < NK; k++) {
		if (unavailable[k])
			continue;
		F.a[k] = summarize(F.a_ns[k], n);
		for (int i = 0; i < 2; i++)
			for (int r = 0; r < n; r++)
				F.b_rate[k][i][r] /= 1e6; /* millions of reads/s */
		F.b1[k] = summarize(F.b_rate[k][0], n);
		F.b2[k] = summarize(F.b_rate[k][1], n);
		F.bpaired[k] = summarize(F.b_ratio[k], n);
		F.scaling[k] = F.b2[k].med / F.b1[k].med;
		F.p50[k] = summarize(F.d_p50[k], n);
		F.p99[k] = summarize(F.d_p99[k], n);
		F.pmax[k] = summarize(F.d_max[k], n);
		F.p99_1r[k] = summarize(F.b1_p99[k], n);
		if (k == K_FENCELESS && !F.quick) {
			F.e50 = summarize(F.e_p50, n);
			F.e99 = summarize(F.e_p99, n);
			F.emax = summarize(F.e_max, n);
		}
		for (int r = 0; r < NROLES; r++) {
			F.torn[k] += S->ctl[k][r].torn;
			F.stale[k] += S->ctl[k][r].stale;
		}
	}
	for (int k = 0; k < NB; k++) {
		if (k < NK && unavailable[k])
			continue;
		for (int s = 0; s < N_SIZES; s++) {
			double g[n];
			for (int r = 0; r < n; r++)
				g[r] = (double)write_sizes[s] / F.c_ns[k][s][r]; /* bytes/ns = GB/s */
			F.c[k][s] = summarize(F.c_ns[k][s], n);
			F.cg[k][s] = summarize(g, n);
		}
	}
}

/* ---- targets ---- */

#define N_TARGETS 9

struct target {
	const char *what;
	int k;			/* whose figure; its unavailability voids it */
	int k2;			/* the other contender in the ratio, or -1 */
	double value, limit;
	bool at_most;		/* value <= limit, else value >= limit */
	const char *unit;
};

static struct target T[N_TARGETS];
static int n_targets;

static void add_target(const char *what, int k, int k2, double value, double limit, bool at_most,
		       const char *unit)
{
	T[n_targets++] = (struct target){ what, k, k2, value, limit, at_most, unit };
}

static bool target_measured(const struct target *t)
{
	return !unavailable[t->k] && (t->k2 < 0 || !unavailable[t->k2]);
}

static bool target_met(const struct target *t)
{
	return t->at_most ? t->value <= t->limit : t->value >= t->limit;
}

static void make_targets(void)
{
	int m64 = N_SIZES - 1;
	add_target("fenceless read / seqlock read", K_FENCELESS, K_SEQLOCK,
		   F.a[K_FENCELESS].med / F.a[K_SEQLOCK].med, 1.5, true, "x");
	add_target("fenceless read / rwlock read", K_FENCELESS, K_RWLOCK,
		   F.a[K_FENCELESS].med / F.a[K_RWLOCK].med, 0.25, true, "x");
	add_target("fenced read / rwlock read", K_FENCED, K_RWLOCK,
		   F.a[K_FENCED].med / F.a[K_RWLOCK].med, 0.5, true, "x");
	add_target("2-reader scaling, native fenceless", K_FENCELESS, -1, F.scaling[K_FENCELESS], 1.8,
		   false, "");
	add_target("2-reader scaling, native fenced", K_FENCED, -1, F.scaling[K_FENCED], 1.8, false, "");
	add_target("64 MiB write / memcpy, native fenceless", K_FENCELESS, -1,
		   F.cg[K_FENCELESS][m64].med / F.cg[MEMCPY][m64].med, 0.8, false, "x");
	add_target("64 MiB write / memcpy, native fenced", K_FENCED, -1,
		   F.cg[K_FENCED][m64].med / F.cg[MEMCPY][m64].med, 0.8, false, "x");
	add_target("writer p99, 36 B, two busy readers, native fenceless", K_FENCELESS, -1,
		   F.p99[K_FENCELESS].med, 20, true, " us");
	add_target("writer p99, 36 B, two busy readers, native fenced", K_FENCED, -1,
		   F.p99[K_FENCED].med, 20, true, " us");
}

/* ---- output ---- */

#define NAME_W 26

static void print_report(void)
{
	char a[80], b[80], c[80];
	int n = F.rounds;

	printf("\n== a. one read of 36 B (begin + touch + end, or the equivalent), one reader process,\n"
	       "   writer idle: ns/read, median [min..max] of %d rounds\n", n);
	printf("%-*s %-30s %s\n", NAME_W, "contender", "ns/read", "reads/round");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k])
			printf("%-*s n/a: %s\n", NAME_W, kinfo[k].name, unavailable_why[k]);
		else
			printf("%-*s %-30s %" PRIu64 "\n", NAME_W, kinfo[k].name, fig_str(F.a[k], a),
			       F.read_ops[k]);
	}

	printf("\n== b. reads/s, writer publishing 36 B 1000 times a second, readers flat out\n"
	       "   for %.2f s a phase: millions of reads/s (summed over readers), median [min..max];\n"
	       "   scaling = median(2 readers) / median(1 reader); paired = median of rounds' own ratios\n",
	       F.phase_s);
	printf("%-*s %-26s %-26s %7s %s\n", NAME_W, "contender", "1 reader", "2 readers", "scaling",
	       "paired [min..max]");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k]) {
			printf("%-*s n/a\n", NAME_W, kinfo[k].name);
			continue;
		}
		printf("%-*s %-26s %-26s %7.2f %s\n", NAME_W, kinfo[k].name, fig_str(F.b1[k], a),
		       fig_str(F.b2[k], b), F.scaling[k], fig_str(F.bpaired[k], c));
	}

	printf("\n== c. one write, one idle reader process connected: ns/write and GB/s, median [min..max]\n"
	       "   of %d rounds (after %d unrecorded); memcpy: into a prefaulted buffer, in the same run;\n"
	       "   memcpy, 2 buffers: into two in turn, as a writer fills its two copies (not judged)\n",
	       n, WARM_ROUNDS);
	printf("%-8s %-*s %-32s %-26s %s\n", "size", NAME_W, "contender", "ns/write", "GB/s", "vs memcpy");
	for (int s = 0; s < N_SIZES; s++) {
		char sz[32];
		size_str(write_sizes[s], sz);
		for (int k = 0; k < NB; k++) {
			const char *name = k == MEMCPY ? "memcpy (baseline)" : k == MEMCPY2 ? "memcpy, 2 buffers"
										: kinfo[k].name;
			if (k < NK && unavailable[k]) {
				printf("%-8s %-*s n/a\n", sz, NAME_W, name);
				continue;
			}
			printf("%-8s %-*s %-32s %-26s %.2f\n", sz, NAME_W, name, fig_str(F.c[k][s], a),
			       fig_str(F.cg[k][s], b), F.cg[k][s].med / F.cg[MEMCPY][s].med);
		}
	}

	printf("\n== d. writer latency of 36 B writes, 1000 a second, two readers flat out (the\n"
	       "   2-reader phases of b): us, median [min..max] of the rounds' own figures\n");
	printf("%-*s %-24s %-24s %-26s %7s %5s  %s\n", NAME_W, "contender", "p50", "p99", "max", "writes",
	       "late", "p99, 1 reader");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k]) {
			printf("%-*s n/a\n", NAME_W, kinfo[k].name);
			continue;
		}
		char e[80];
		printf("%-*s %-24s %-24s %-26s %7" PRIu64 " %5" PRIu64 "  %s\n", NAME_W, kinfo[k].name,
		       fig_str(F.p50[k], a), fig_str(F.p99[k], b), fig_str(F.pmax[k], c), F.d_writes[k],
		       F.d_late[k], fig_str(F.p99_1r[k], e));
	}
	if (!F.quick && !unavailable[K_FENCELESS])
		printf("%-*s %-24s %-24s %s\n   (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) alone, no write, on the same\n"
		       "   schedule with the two fenceless readers flat out: what each fenceless write pays)\n",
		       NAME_W, "membarrier alone", fig_str(F.e50, a), fig_str(F.e99, b), fig_str(F.emax, c));

	bool notes = false;
	for (int k = 0; k < NK; k++) {
		const char *note = S->ctl[k][READER1].note;
		if (unavailable[k] || (!note[0] && !F.torn[k] && !F.stale[k]))
			continue;
		if (!notes)
			printf("\n== notes\n");
		notes = true;
		if (note[0])
			printf("%s: %s\n", kinfo[k].name, note);
		if (F.torn[k])
			printf("%s: %" PRIu64 " TORN reads (first and last bytes differ)\n", kinfo[k].name,
			       F.torn[k]);
		if (F.stale[k])
			printf("%s: %" PRIu64 " reads evicted (-ESTALE) and read again\n", kinfo[k].name,
			       F.stale[k]);
	}

	printf("\n== targets (ratios of medians from this run)\n");
	for (int i = 0; i < n_targets; i++) {
		const struct target *t = &T[i];
		printf("%-56s ", t->what);
		if (!target_measured(t))
			printf("not measured (contender unavailable)\n");
		else
			printf("%7.2f%s  %s %.2f%s  %s\n", t->value, t->unit, t->at_most ? "<=" : ">=",
			       t->limit, t->unit, target_met(t) ? "met" : "MISSED");
	}
	printf("run took %.1f s\n", F.elapsed_s);
	if (F.other_cpu_s >= 0) {
		double pct = 100 * F.other_cpu_s / (F.elapsed_s * (double)sysconf(_SC_NPROCESSORS_ONLN));
		printf("other processes used %.1f CPU-s during the run (%.0f %% of the machine)%s\n",
		       F.other_cpu_s, pct, pct > 5 ? ": figures disturbed, run again on a quiet machine" : "");
	}
}

static void write_json(FILE *j)
{
	fprintf(j, "{\n  \"tool\": \"mmsync-bench-suite\", \"quick\": %s, \"rounds\": %d, \"cpus\": %ld, "
		   "\"phase_s\": %.3f, \"payload_bytes\": %d, \"rate_per_s\": %u,\n",
		F.quick ? "true" : "false", F.rounds, sysconf(_SC_NPROCESSORS_ONLN), F.phase_s, PAYLOAD,
		(unsigned)(1000000000u / RATE_PERIOD_NS));
	fprintf(j, "  \"units\": {\"read\": \"ns\", \"reads_per_s\": \"millions/s\", \"write\": \"ns\", "
		   "\"bandwidth\": \"GB/s (1e9 bytes/s)\", \"latency\": \"us\"},\n");
	fprintf(j, "  \"contenders\": [\n");
	for (int k = 0; k < NK; k++) {
		fprintf(j, "    {\"key\": \"%s\", \"name\": \"%s\", \"available\": %s", kinfo[k].key,
			kinfo[k].name, unavailable[k] ? "false" : "true");
		if (unavailable[k]) {
			fprintf(j, ", \"why\": \"");
			for (const char *p = unavailable_why[k]; *p; p++)
				fputc(*p == '"' || *p == '\\' ? '\'' : *p, j);
			fprintf(j, "\"}%s\n", k + 1 < NK ? "," : "");
			continue;
		}
		fprintf(j, ", \"note\": \"%s\",\n      ", S->ctl[k][READER1].note);
		json_fig(j, "read_ns", F.a[k]);
		fprintf(j, ", \"reads_per_round\": %" PRIu64 ",\n      ", F.read_ops[k]);
		json_fig(j, "reads_per_s_1_reader", F.b1[k]);
		fprintf(j, ", ");
		json_fig(j, "reads_per_s_2_readers", F.b2[k]);
		fprintf(j, ", \"scaling\": %.4f, ", F.scaling[k]);
		json_fig(j, "scaling_paired", F.bpaired[k]);
		fprintf(j, ",\n      \"write\": [");
		for (int s = 0; s < N_SIZES; s++) {
			fprintf(j, "{\"size\": %" PRIu64 ", \"reps\": %" PRIu64 ", ", write_sizes[s],
				F.c_reps[k][s]);
			json_fig(j, "ns", F.c[k][s]);
			fprintf(j, ", ");
			json_fig(j, "gbps", F.cg[k][s]);
			fprintf(j, ", \"vs_memcpy\": %.4f}%s", F.cg[k][s].med / F.cg[MEMCPY][s].med,
				s + 1 < N_SIZES ? ", " : "");
		}
		fprintf(j, "],\n      \"writer_latency_us\": {");
		json_tail(j, F.p50[k], F.p99[k], F.pmax[k]);
		fprintf(j, ", \"writes\": %" PRIu64 ", \"late\": %" PRIu64 ", ", F.d_writes[k], F.d_late[k]);
		json_fig(j, "p99_1_reader", F.p99_1r[k]);
		fprintf(j, "},\n      \"torn_reads\": %" PRIu64 ", \"stale_reads\": %" PRIu64 "}%s\n",
			F.torn[k], F.stale[k], k + 1 < NK ? "," : "");
	}
	fprintf(j, "  ],\n");
	for (int b = MEMCPY; b < NB; b++) {
		fprintf(j, "  \"%s\": [", b == MEMCPY ? "memcpy" : "memcpy_2_buffers");
		for (int s = 0; s < N_SIZES; s++) {
			fprintf(j, "{\"size\": %" PRIu64 ", \"reps\": %" PRIu64 ", ", write_sizes[s],
				F.c_reps[b][s]);
			json_fig(j, "ns", F.c[b][s]);
			fprintf(j, ", ");
			json_fig(j, "gbps", F.cg[b][s]);
			fprintf(j, "}%s", s + 1 < N_SIZES ? ", " : "");
		}
		fprintf(j, "],\n");
	}
	if (!F.quick && !unavailable[K_FENCELESS]) {
		fprintf(j, "  \"membarrier_alone_us\": {");
		json_tail(j, F.e50, F.e99, F.emax);
		fprintf(j, "},\n");
	}
	fprintf(j, "  \"targets\": [\n");
	for (int i = 0; i < n_targets; i++) {
		const struct target *t = &T[i];
		fprintf(j, "    {\"what\": \"%s\", ", t->what);
		if (target_measured(t))
			fprintf(j, "\"value\": %.4f, \"limit\": %.4f, \"at_most\": %s, \"met\": %s}", t->value,
				t->limit, t->at_most ? "true" : "false", target_met(t) ? "true" : "false");
		else
			fprintf(j, "\"limit\": %.4f, \"at_most\": %s, \"met\": null}", t->limit,
				t->at_most ? "true" : "false");
		fprintf(j, "%s\n", i + 1 < n_targets ? "," : "");
	}
	fprintf(j, "  ],\n  \"elapsed_s\": %.1f, \"other_cpu_s\": %.1f\n}\n", F.elapsed_s, F.other_cpu_s);
}

static const char usage_text[] =
	"usage: mmsync-bench-suite [--quick] [--json FILE] [--rounds N]\n"
	"  mmsync native (fenceless, fenced), mmsync compat, LMDB, a shared-memory\n"
	"  pthread rwlock and a seqlock, side by side: read cost, reader scaling,\n"
	"  write cost and bandwidth, writer latency; targets reported as met/MISSED.\n"
	"  --quick     3 rounds, short phases: under 30 s (default: 11 rounds, ~2.5 min)\n"
	"  --json FILE also write the figures as JSON to FILE\n"
	"  --rounds N  rounds per figure (1..1000)\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *json = NULL;
	long rounds = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			F.quick = true;
			break;
		case 'j':
			json = optarg;
			break;
		case 'r':
			errno = 0;
			rounds = strtol(optarg, &end, 10);
			if (errno || *end || rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "mmsync-bench-suite: --rounds takes a number from 1 to %d\n",
					MAX_ROUNDS);
				return 1;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmsync-bench-suite: unexpected argument '%s'\n", argv[optind]);
		fputs(usage_text, stderr);
		return 1;
	}
	F.rounds = rounds ? (int)rounds : F.quick ? 3 : 11;
	F.phase_s = F.quick ? 0.25 : 1.0;
	uint64_t read_round_ns = F.quick ? 5000000 : 20000000;
	uint64_t write_round_ns = F.quick ? 10000000 : 30000000;

	/* Open the JSON file first: a bad path fails now, not after minutes. */
	FILE *jf = NULL;
	if (json && !(jf = fopen(json, "we"))) {
		fprintf(stderr, "mmsync-bench-suite: %s: %s\n", json, strerror(errno));
		return 1;
	}
	json_partial = json;

	int pid = (int)getpid();
	snprintf(compat_prefix, sizeof(compat_prefix), "/dev/shm/mmsync-bench-suite-%d-compat", pid);
	snprintf(lmdb_path, sizeof(lmdb_path), "/dev/shm/mmsync-bench-suite-%d-lmdb", pid);
	snprintf(lmdb_lock, sizeof(lmdb_lock), "%s-lock", lmdb_path); /* MDB_NOSUBDIR's lock file */
	snprintf(shm_rw, sizeof(shm_rw), "/mmsync-bench-suite-%d-rwlock", pid);
	snprintf(shm_seq, sizeof(shm_seq), "/mmsync-bench-suite-%d-seqlock", pid);
	for (int i = 0; i < 2; i++) {
		snprintf(native_name[i], sizeof(native_name[i]), "bench-suite-%d-%s", pid, i ? "fenced" : "fenceless");
		snprintf(native_sock[i], sizeof(native_sock[i]), "@%s", native_name[i]);
	}

	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		S = NULL;
		fprintf(stderr, "mmsync-bench-suite: mmap: %s\n", strerror(errno));
		return 1;
	}
	atexit(cleanup);
	/* No SA_RESTART: poll(), futex() and nanosleep() return EINTR, and
	 * the loops around them look at got_signal. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint64_t t_start = now_ns();
	double busy0 = machine_busy_s(), own0 = own_cpu_s();
	printf("mmsync-bench-suite: %s run, %d rounds, %.2f s phases; %ld CPUs\n",
	       F.quick ? "quick" : "full", F.rounds, F.phase_s, sysconf(_SC_NPROCESSORS_ONLN));

	part_begin("setup: 6 writer and 12 reader processes");
	fflush(stdout); /* the children inherit stdout's buffer */
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++) {
			struct ctl *ct = &S->ctl[k][r];
			if ((ct->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
				die("eventfd: %s", strerror(errno));
			pid_t p = fork();
			if (p < 0)
				die("fork: %s", strerror(errno));
			if (p == 0)
				child_main(k, r); /* never returns */
			ct->pid = p;
		}
	for (int k = 0; k < NK; k++)
		open_role(k, WRITER);
	for (int k = 0; k < NK; k++)
		open_role(k, READER1);
	/* The baseline's buffers, made after the forks: a child sharing their
	 * pages would make the timed memcpy copy-on-write faults. */
	if (!(msrc = alloc_prefaulted(MAX_PAYLOAD, 0x5a)) || !(mdst = alloc_prefaulted(2 * MAX_PAYLOAD, 0)))
		die("no memory for the memcpy baseline");
	part_end();

	/* This VM hands freed memory back to the host a couple of seconds
	 * later and stalls its vCPUs meanwhile (see bench_write.c): let what
	 * came before this run settle before timing. */
	if (!F.quick)
		sleep_ns(2000000000ull);

	part_begin("a. reads, one reader, writer idle");
	part_a(read_round_ns);
	part_end();

	part_begin("c. writes, one idle reader");
	part_c(write_round_ns);
	part_end();

	part_begin("b+d. 1 and 2 readers flat out, writer at 1000/s");
	for (int k = 0; k < NK; k++)
		open_role(k, READER2);
	part_bd();
	part_end();

	summarize_all();
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++)
			if (S->ctl[k][r].pid > 0) {
				run_cmd(k, r, CMD_EXIT, 0, 0, 0);
				waitpid(S->ctl[k][r].pid, NULL, 0);
				S->ctl[k][r].pid = 0;
			}
	F.elapsed_s = (double)(now_ns() - t_start) / 1e9;
	double busy1 = machine_busy_s();
	F.other_cpu_s = busy0 < 0 || busy1 < 0 ? -1 : (busy1 - busy0) - (own_cpu_s() - own0);
	if (F.other_cpu_s < 0 && busy0 >= 0 && busy1 >= 0)
		F.other_cpu_s = 0; /* tick granularity */
	make_targets();
	print_report();
	if (jf) {
		write_json(jf);
		if (fclose(jf))
			die("%s: %s", json, strerror(errno));
		json_partial = NULL;
		printf("JSON written to %s\n", json);
	}
	return 0;
}
