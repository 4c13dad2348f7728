/* SPDX-License-Identifier: MIT */
/*
 * The native reader: set up from the writer's socket or from exported
 * descriptors, and the library's half of its read (native_begin: what the
 * inline path of include/mmsync_read.h hands over), including taking up the
 * copies of a new generation. Everything received is checked before it is
 * mapped: the message (magic, versions, sizes), each descriptor's type,
 * size, seals and access mode, and the header it maps. What passes is
 * mapped read-only, but for the reader's own slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/membarrier.h>
#include <sys/syscall.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#include "fdpass.h"
#include "fds.h"
#include "opts.h"
#include "reader.h"
#include "segment.h"

#define DEFAULT_TIMEOUT_MS 5000

/* Registers this process for expedited barriers and, where the writer can
 * issue them (the header says so), reads without a fence: the writer's
 * barrier stands in for it. Where registering is refused (seccomp, old
 * kernel) or the writer cannot issue the barrier, it fences each read.
 * Return: 0, or -ENOTSUP when the caller demands fenceless reads that
 * cannot be had. */
static int slot_set_mode(struct mmsync_reader *r)
{
	struct native_reader *n = &r->n;
	bool fenceless = false;

	if (!(r->flags & MMSYNC_FENCED) && atomic_load(&n->h->fenceless_ok) &&
	    syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0) {
		atomic_store(&n->slot->mode, SLOT_MODE_FENCELESS);
		/* The writer stores fenceless_ok = 0, then loads the modes; we
		 * store the mode, then load fenceless_ok (both seq_cst): it
		 * sees us fenceless, or we see that it lost its barrier. */
		fenceless = atomic_load(&n->h->fenceless_ok);
	}
	if (!fenceless && (r->flags & MMSYNC_FENCELESS))
		return -ENOTSUP;
	if (!fenceless)
		atomic_store(&n->slot->mode, SLOT_MODE_FENCED);
	/* A writer that did not see this mode at its last publish issued no
	 * membarrier for us: our loads of li must come after this store (see
	 * publish_scan()), which a full fence ensures on every CPU. */
	atomic_thread_fence(memory_order_seq_cst);
	/* The slot is ours from here on: the inline read path may use it. */
	_Static_assert(offsetof(struct native_copy_desc, seq) == 8 &&
			       offsetof(struct native_copy_desc, generation) == 16,
		       "mmsync_read.h reads a descriptor as three words");
	struct mmsync_read_fast *f = &r->f;
	f->arrived = (uint64_t *)&n->slot->arrived;
	f->reading = (uint64_t *)&n->slot->reading;
	f->slot_evictions = (const uint64_t *)&n->slot->evictions;
	f->vi = (const uint32_t *)&n->h->vi;
	f->li = (const uint32_t *)&n->h->li;
	for (int c = 0; c < 2; c++)
		f->desc[c] = (const uint64_t *)&n->h->copy[c].version; /* then seq, generation */
	f->mode = MMSYNC_FAST_NATIVE | (fenceless ? MMSYNC_FAST_FENCELESS : 0) |
		  (r->flags & MMSYNC_VERIFY_CHECKSUM ? MMSYNC_FAST_CALL : 0);
	f->known_evictions = atomic_load(&n->slot->evictions);
	return 0;
}

/* SEE-COUNT */
int native_evictions_seen(struct mmsync_reader *r)
{
	struct native_reader *n = &r->n;

	/* Revoked: told at every begin from now on (the count stays unknown,
	 * so that each begin comes here). */
	if (atomic_load(&n->slot->revoked))
		return -ECONNRESET;
	r->f.known_evictions = r->f.evictions;
	/* The writer bumps every fenceless slot before each fill once its
	 * barrier failed: go fenced, for good (MMSYNC_FENCELESS included:
	 * the guarantee cannot be had any more). */
	if ((r->f.mode & MMSYNC_FAST_FENCELESS) && !atomic_load(&n->h->fenceless_ok)) {
		atomic_store(&n->slot->mode, SLOT_MODE_FENCED);
		r->f.mode &= ~(uint32_t)MMSYNC_FAST_FENCELESS;
	}
	return 0;
}

void native_reader_release(struct mmsync_reader *r)
{
	struct native_reader *n = &r->n;
	r->f.mode = 0;
	/* A clean departure, for the writer's figures (disconnects, not dead
	 * readers): said only by the process that made the reader, not by a
	 * forked child closing its copy of it. */
	if (n->slot && n->pid == getpid())
		atomic_store(&n->slot->closed, 1);
	if (n->h)
		munmap((void *)n->h, NATIVE_STATE_SIZE);
	for (int i = 0; i < 2; i++)
		hold_unmap(&r->hold[i], r->f.copy[i], n->capacity);
	if (n->slot_map)
		munmap(n->slot_map, n->slot_len);
	if (n->slot_fd >= 0)
		close(n->slot_fd);
	if (n->conn >= 0)
		close(n->conn);
	if (n->state_fd >= 0)
		close(n->state_fd);
	*n = (struct native_reader){ .slot_fd = -1, .conn = -1, .state_fd = -1 };
	r->f = (struct mmsync_read_fast){ 0 };
}

void native_populate(struct mmsync_reader *r, unsigned c, uint64_t need)
{
	struct mmsync_read_fast *f = &r->f;
	uint64_t upto = atomic_load(&r->n.h->populated[c]);
	/* No further than the version being read needs: a writer's word for
	 * what exists would otherwise make the reader fault in (and, for
	 * shmem, allocate) pages no version ever used. */
	long page = sysconf(_SC_PAGESIZE);
	need = (need + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	if (upto > need)
		upto = need;
	if (upto > r->n.capacity)
		upto = r->n.capacity;
	if (upto <= f->ready[c])
		return;
	/* Best effort: without it the first reads fault the pages in. */
	madvise((char *)f->copy[c] + f->ready[c], upto - f->ready[c], MADV_POPULATE_READ);
	f->ready[c] = upto;
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Copies: read-only, exactly @capacity bytes, sealed; or, when the writer
 * says they are hugetlbfs files (which cannot be sealed) and the caller
 * trusts such a writer (MMSYNC_TRUST_UNSEALED), on hugetlbfs. Unsealed, a
 * copy can be shrunk under the reader's mapping: a SIGBUS at its next
 * access. */
static int copy_check(const struct mmsync_reader *r, int fd, uint64_t capacity, bool unsealed)
{
	if (!unsealed)
		return native_fd_check(fd, capacity, true, NATIVE_SEALS_COPY, false);
	if (!(r->flags & MMSYNC_TRUST_UNSEALED)) {
		log_msg(&r->trust.log, "the writer sends unsealed copies (hugetlbfs), which it "
			"could shrink under this reader: refused without MMSYNC_TRUST_UNSEALED");
		return -EBADMSG;
	}
	struct statfs sfs;
	if (fstatfs(fd, &sfs) || sfs.f_type != HUGETLBFS_MAGIC)
		return -EBADMSG;
	return native_fd_check(fd, capacity, true, 0, false);
}

static int map_copies(struct mmsync_reader *r, const int fds[2], uint64_t capacity,
		      uint64_t generation, bool unsealed)
{
	struct mmsync_read_fast *f = &r->f;
	const void *m[2] = { NULL, NULL };
	int err = 0;

	for (int i = 0; i < 2 && !err; i++) {
		if ((err = copy_check(r, fds[i], capacity, unsealed)))
			break;
		void *p = mmap(NULL, capacity, PROT_READ, MAP_SHARED, fds[i], 0);
		if (p == MAP_FAILED)
			err = -errno;
		else
			m[i] = p;
	}
	if (err) {
		for (int i = 0; i < 2; i++)
			if (m[i])
				munmap((void *)m[i], capacity);
		return err;
	}
	for (int i = 0; i < 2; i++) {
		hold_unmap(&r->hold[i], f->copy[i], r->n.capacity);
		f->copy[i] = m[i];
	}
	r->n.capacity = capacity;
	f->generation = generation;
	f->ready[0] = f->ready[1] = 0; /* each read populates what it needs */
	return 0;
}

/* The header's descriptor: a sealed, read-only memfd. */
static int state_check(int fd)
{
	return native_fd_check(fd, NATIVE_STATE_SIZE, true, NATIVE_SEALS_COPY, false);
}

static int map_state(struct native_reader *n, int fd, const struct native_msg *m)
{
	int err = state_check(fd);
	if (err)
		return err;
	void *p = mmap(NULL, NATIVE_STATE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	n->h = p;
	return native_header_check(n->h, m->generation, m->capacity, m->max_readers);
}

/* A reader that asks to verify checksums of a segment published without. */
static int checksum_check(const struct mmsync_reader *r)
{
	if ((r->flags & MMSYNC_VERIFY_CHECKSUM) && !(r->n.h->flags & NATIVE_HDR_CHECKSUM))
		return -EOPNOTSUPP;
	return 0;
}

/* Checks the arguments common to both set-ups and makes the handle. */
static int native_reader_new(struct mmsync_reader **rp, const struct mmsync_reader_opts *opts,
			     struct mmsync_reader **out, const char *func, const char *who)
{
	if (!rp)
		return -EINVAL;
	*rp = NULL;
	struct log l = OPTS_LOG(opts, who);
	if (opts_check(opts, sizeof(*opts), &l, func, "mmsync_reader_opts"))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (opts_flags_check(flags, MMSYNC_VERIFY_CHECKSUM | MMSYNC_FENCED | MMSYNC_FENCELESS |
			     MMSYNC_TRUST_UNSEALED | MMSYNC_ANY_WRITER, &l, func, "mmsync_reader_opts"))
		return -EINVAL;
	if (flags & MMSYNC_FENCED && flags & MMSYNC_FENCELESS) {
		log_msg(&l, "%s(): opts->flags has both MMSYNC_FENCED and MMSYNC_FENCELESS", func);
		return -EINVAL;
	}
	struct mmsync_reader *r = reader_alloc();
	if (!r)
		return -ENOMEM;
	r->native = true;
	r->flags = flags;
	r->trust = (struct compat_trust){
		.uid = OPTS_GET(opts, trust_uid, 0),
		.log = { OPTS_GET(opts, log, NULL), OPTS_GET(opts, log_ctx, NULL), "reader" },
	};
	*out = r;
	return 0;
}

/* Whoever listens on the socket is the writer this reader will read: it
 * must run as this process's uid, as root, or as the trusted uid, unless
 * the caller vouches for the path (MMSYNC_ANY_WRITER). Anyone may bind an
 * abstract name, or a path in a directory open to others, first. */
static int writer_trusted(const struct mmsync_reader *r, const char *path)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (r->flags & MMSYNC_ANY_WRITER)
		return 0;
	if (getsockopt(r->n.conn, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return -errno;
	if (cr.uid == geteuid() || cr.uid == 0 || (r->trust.uid && cr.uid == r->trust.uid))
		return 0;
	log_msg(&r->trust.log, "the writer at %s runs as uid %u (pid %d), not as this process's "
		"uid %u, root or the trusted uid: refused", path, (unsigned)cr.uid, (int)cr.pid,
		(unsigned)geteuid());
	return -EPERM;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A signal does not restart the wait from scratch: the deadline holds. */
static int wait_readable(int fd, unsigned timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t deadline = now_ms() + timeout_ms;
	int r, left = (int)timeout_ms;

	while ((r = poll(&p, 1, left)) < 0 && errno == EINTR) {
		int64_t ms = deadline - now_ms();
		left = ms > 0 ? (int)ms : 0; /* never negative: poll would wait forever */
	}
	return r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
}

/* One connection and its handshake, within @timeout ms. */
static int connect_once(struct mmsync_reader **rp, const char *path,
			const struct mmsync_reader_opts *opts, unsigned timeout)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct native_msg m;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds = 0;
	int err;

	struct mmsync_reader *r;
	if ((err = native_reader_new(rp, opts, &r, "mmsync_reader_connect", path)))
		return err;
	if ((err = fdpass_addr(path, &sa, &salen))) {
		mmsync_reader_close(r);
		return err;
	}
	struct native_reader *n = &r->n;
	n->conn = fd_above_stdio(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
	if (n->conn < 0) {
		err = n->conn;
		goto fail;
	}
	/* A writer that accepts nothing fills its backlog, and then connect()
	 * itself blocks: for as long as the socket's send timeout says. */
	struct timeval tv = { .tv_sec = timeout / 1000, .tv_usec = (timeout % 1000) * 1000 };
	int64_t start = now_ms();
	if (setsockopt(n->conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		err = -errno;
		goto fail;
	}
	if (connect(n->conn, (struct sockaddr *)&sa, salen)) {
		err = errno == ENOENT ? -ECONNREFUSED : errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto fail;
	}
	if ((err = writer_trusted(r, path)))
		goto fail;
	int64_t spent = now_ms() - start;
	if ((err = wait_readable(n->conn, spent < timeout ? (unsigned)(timeout - spent) : 0)))
		goto fail;
	long len = fdpass_recv(n->conn, &m, sizeof(m), MSG_DONTWAIT, fds, 4, &nfds);
	if (len <= 0) {
		/* closed without a word: the writer refused us before the handshake */
		err = len == 0 ? -ECONNREFUSED : (int)len;
		goto fail;
	}
	if ((err = native_msg_check(&m, (size_t)len, NATIVE_MSG_HELLO, nfds))) {
		if (err == -EACCES)
			err = -ECONNREFUSED;
		goto fail;
	}
	if (nfds != 4) {
		err = -EBADMSG;
		goto fail;
	}
	bool unsealed = m.flags & NATIVE_FLAG_UNSEALED;
	if ((err = map_state(n, fds[0], &m)) || (err = checksum_check(r)) ||
	    (err = map_copies(r, fds + 1, m.capacity, m.generation, unsealed)) ||
	    (err = native_fd_check(fds[3], (uint64_t)sysconf(_SC_PAGESIZE), true, NATIVE_SEALS_SIZE, true)))
		goto fail;
	n->slot_len = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, n->slot_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[3], 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	n->slot_map = p;
	n->slot = p;
	n->pid = getpid();
	n->slot_fd = fds[3]; /* holds the lock the writer took for us */
	n->state_fd = fds[0]; /* to see the writer's lock */
	fds[3] = fds[0] = -1;
	if ((err = slot_set_mode(r)))
		goto fail;
	close_all(fds, nfds);
	*rp = r;
	return 0;
fail:
	close_all(fds, nfds);
	mmsync_reader_close(r);
	return err;
}

/* A writer that could not serve this reader now (-EAGAIN: out of
 * descriptors, or too many hellos unread, as in a burst of connects on a
 * loaded machine) is asked again, with naps that double from 1 ms to
 * 100 ms, until the timeout. */
int mmsync_reader_connect(struct mmsync_reader **rp, const char *path,
			  const struct mmsync_reader_opts *opts)
{
	unsigned timeout = OPTS_GET(opts, timeout_ms, 0);
	timeout = timeout ? timeout : DEFAULT_TIMEOUT_MS;
	int64_t start = now_ms();
	for (unsigned nap = 1;; nap = nap < 50 ? nap * 2 : 100) {
		int64_t spent = now_ms() - start;
		/* never 0: a send timeout of 0 would be none at all */
		int err = connect_once(rp, path, opts, spent < timeout ? (unsigned)(timeout - spent) : 1);
		spent = now_ms() - start;
		if (err != -EAGAIN || spent + nap >= timeout)
			return err;
		struct timespec ts = { 0, (long)nap * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* TAKE-UP */
int native_refresh(struct mmsync_reader *r, uint64_t generation)
{
	struct native_reader *n = &r->n;
	struct native_msg m;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds;

	if (n->conn < 0)
		return -ESTALE; /* made from descriptors: they are of the old generation */
	/* The writer queued the copies on our socket before any descriptor
	 * named their generation: they are here, in order, oldest first. */
	while (r->f.generation != generation) {
		long len = fdpass_recv(n->conn, &m, sizeof(m), MSG_DONTWAIT, fds, 2, &nfds);
		if (len <= 0) {
			/* An empty message may still carry descriptors: ours to close. */
			close_all(fds, nfds);
			if (len == 0 && nfds)
				return -EBADMSG;
			return len == 0 ? -EPIPE : len == -EAGAIN ? -EBADMSG : (int)len;
		}
		if (native_msg_check(&m, (size_t)len, NATIVE_MSG_WAKE, nfds) == 0)
			continue; /* for our descriptor (reader_wait.c): it re-arms anyway */
		int err = native_msg_check(&m, (size_t)len, NATIVE_MSG_GENERATION, nfds);
		if (!err && nfds != 2)
			err = -EBADMSG;
		if (!err && m.generation == generation)
			err = map_copies(r, fds, m.capacity, m.generation, m.flags & NATIVE_FLAG_UNSEALED);
		close_all(fds, nfds);
		if (err)
			return err;
	}
	return 0;
}

/* Claims the first free slot of the table with a write lock on its bytes,
 * on a description of our own (so the lock is ours, not shared with
 * whoever else holds the descriptor we were given). */
static int claim_table_slot(struct mmsync_reader *r, int table_fd, uint32_t max_readers)
{
	struct native_reader *n = &r->n;
	size_t len = (size_t)max_readers * sizeof(struct native_slot);
	int err = native_fd_check(table_fd, len, false, NATIVE_SEALS_SIZE, true);
	if (err)
		return err;
	/* Without /proc (a sandbox), the description we were given: then
	 * each reader needs a set of its own from mmsync_writer_export_fds(). */
	n->slot_fd = segment_reopen(table_fd, O_RDWR);
	if (n->slot_fd < 0)
		n->slot_fd = fcntl(table_fd, F_DUPFD_CLOEXEC, 3);
	if (n->slot_fd < 0)
		return -errno;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, n->slot_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	n->slot_map = p;
	n->slot_len = len;
	for (uint32_t i = 0; i < max_readers; i++) {
		struct flock fl = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET,
			.l_start = (off_t)(i * sizeof(struct native_slot)),
			.l_len = sizeof(struct native_slot),
		};
		if (fcntl(n->slot_fd, F_OFD_SETLK, &fl) == 0) {
			n->slot = (struct native_slot *)p + i;
			n->pid = getpid();
			atomic_store(&n->slot->arrived, 0);
			atomic_store(&n->slot->closed, 0); /* a reader before us may have said it */
			/* The slot had owners before us: our reads must not reuse
			 * their numbers, or a stale `reading` (or a value the writer
			 * evicted) would pass for one of ours. Go on well past the
			 * last number the slot shows. */
			r->f.nreads = ((atomic_load(&n->slot->reading) >> 1) + (1ull << 32)) & ~1ull;
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES)
			return -errno;
	}
	return -EUSERS;
}

int mmsync_reader_from_fds(struct mmsync_reader **rp, const int fds[MMSYNC_NR_FDS],
			   const struct mmsync_reader_opts *opts)
{
	int err;

	struct mmsync_reader *r;
	if ((err = native_reader_new(rp, opts, &r, "mmsync_reader_from_fds", NULL)))
		return err;
	if (!fds) {
		mmsync_reader_close(r);
		return -EINVAL;
	}
	struct native_reader *n = &r->n;

	/* No handshake message here: the header, once checked, says it. */
	if ((err = state_check(fds[MMSYNC_FD_STATE])))
		goto fail;
	void *p = mmap(NULL, NATIVE_STATE_SIZE, PROT_READ, MAP_SHARED, fds[MMSYNC_FD_STATE], 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	n->h = p;
	if ((n->state_fd = fcntl(fds[MMSYNC_FD_STATE], F_DUPFD_CLOEXEC, 3)) < 0) {
		err = -errno;
		goto fail;
	}
	if (n->h->magic != NATIVE_MAGIC || n->h->layout_version != NATIVE_LAYOUT_VERSION) {
		err = -EPROTO;
		goto fail;
	}
	uint32_t max_readers = n->h->max_readers;
	uint64_t gen = atomic_load(&n->h->generation), cap = atomic_load(&n->h->capacity);
	if (n->h->header_size != sizeof(*n->h) || !max_readers || max_readers > NATIVE_MAX_READERS) {
		err = -EBADMSG;
		goto fail;
	}
	/* Copies that are not the header's size are of another generation. */
	struct stat st;
	if (fstat(fds[MMSYNC_FD_COPY0], &st) || !S_ISREG(st.st_mode)) {
		err = -EBADMSG;
		goto fail;
	}
	if ((uint64_t)st.st_size != cap) {
		err = -ESTALE;
		goto fail;
	}
	if ((err = checksum_check(r)) ||
	    (err = map_copies(r, fds + MMSYNC_FD_COPY0, cap, gen, false)) ||
	    (err = claim_table_slot(r, fds[MMSYNC_FD_SLOTS], max_readers)) ||
	    (err = slot_set_mode(r)))
		goto fail;
	*rp = r;
	return 0;
fail:
	mmsync_reader_close(r);
	return err;
}
/* The inline path's (mmsync_read.h) and more: new copies, a payload that
 * grew, checksums, a changed eviction count, errors. */
int native_begin(struct mmsync_reader *r, struct mmsync_view *view)
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
	/* Not the word: without checksums an empty payload in copy 0 has
	 * the version word 0, and it is a version. */
	if (!d.seq)
		err = -ENODATA;
	else if (size > r->n.capacity || mmsync_version_idx(d.version) != c)
		err = -EBADMSG; /* never touch what the mapping does not hold */
	else {
		if (size > f->ready[c])
			native_populate(r, c, size); /* the payloads grew: one system call */
		err = reader_verify(r, f->copy[c], size, d.version);
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

int native_reader_check(struct mmsync_reader *r)
{
	/* The writer holds a write lock on the header's first byte, on its
	 * own open file description, for as long as it lives. */
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(r->n.state_fd, F_OFD_GETLK, &fl))
		return -errno;
	if (fl.l_type == F_UNLCK)
		return -EPIPE;
	return atomic_load(&r->n.slot->revoked) ? -ECONNRESET : 0;
}
