/* SPDX-License-Identifier: MIT */
/* The six contenders, as the child processes run them: each one's writer
 * and reader set-up, its write, its read (inlined into a loop of its own)
 * and its close; LMDB's are in suite_lmdb.c. The rest of a child is in
 * suite_child.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "suite.h"

enum kind my_kind;

struct wctx W = { .wfd = -1 };
struct rctx R;
bool is_writer, opened;

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

void child_close(void)
{
	if (!opened)
		return;
	opened = false;
	if (is_writer) {
		mmsync_writer_close(W.mw); /* removes the socket and the BPF pins */
		if (W.region)
			munmap(W.region, W.region_len);
	} else {
		mmsync_reader_close(R.mr);
		if (R.region)
			munmap(R.region, R.region_len);
	}
	if (my_kind == K_LMDB)
		lmdb_close();
}

static void check_mm(int err, const char *what)
{
	if (err)
		cfail("%s: %s", what, mmsync_strerror(err));
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

void do_write(const void *src, size_t len)
{
	switch (my_kind) {
	case K_FENCELESS:
	case K_FENCED:
	case K_COMPAT:
		check_mm(mmsync_write(W.mw, src, len, GRACE_NS, NULL), "mmsync_write");
		break;
	case K_LMDB:
		lmdb_write(src, len);
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

void writer_open(void)
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
	case K_LMDB:
		lmdb_writer_open();
		break;
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
	cfail("%s: %s", what, mmsync_strerror(err));
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

/* A spinning reader's pause, as the library's (src/native_slots.c). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline __attribute__((always_inline)) unsigned seqlock_read(struct rctx *c)
{
	const struct seq_hdr *h = (const struct seq_hdr *)c->region;
	uint64_t s, len;
	for (;;) {
		s = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (__builtin_expect(s & 1, 0)) {
			cpu_relax();
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
READ_LOOP(rwlock_reads, rwlock_read)
READ_LOOP(seqlock_reads, seqlock_read)

static volatile unsigned read_sink;

void reads(uint64_t n)
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

void reader_open(void)
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
		lmdb_reader_open();
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
