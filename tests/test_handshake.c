/* SPDX-License-Identifier: MIT */
/*
 * The native handshake from both ends.
 *
 * Reader side: the test plays a hostile writer (a fake server on an
 * abstract socket) and sends one crafted message; a forked child runs
 * mmsync_reader_connect() and exits with the error it got (as a positive
 * errno), after checking that the refused connect left no descriptor and no
 * shared mapping behind. The fake server's "good" message, built by hand the
 * way the writer builds its own, is accepted: each refusal is due to the one
 * thing changed.
 *
 * Writer side: what a real writer hands out cannot be written, resized or
 * resealed; peers outside the allow-list, peers beyond max_readers and
 * hostile clients are turned away without a leak, and the writer keeps
 * serving honest readers.
 *
 * The writer lives in the test process and must be driven: the parent calls
 * mmsync_writer_dispatch() while forked readers connect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "fdpass.h"
#include "harness.h"
#include "hash.h"
#include "mmsync.h"
#include "native_layout.h"

/* Exit statuses of the children, above any errno they may return. */
enum {
	CHILD_FD_LEAK = 200,	/* a descriptor more after than before */
	CHILD_MAP_LEAK = 201,	/* a shared mapping more after than before */
	CHILD_BAD_READ = 202,	/* a read returned wrong bytes or an error */
	CHILD_SETUP = 203,	/* the child could not set itself up */
	CHILD_TIMEOUT = 204,	/* never told to exit */
	CHILD_BAD_HANDLE = 205,	/* *r not NULL after a failure, or NULL after success */
};

#define NOBODY 65534

static unsigned name_counter;

static void sock_name(char *buf, size_t n)
{
	snprintf(buf, n, "@mmsync-hs-%d-%u", (int)getpid(), name_counter++);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Mappings of shared memory objects: what a reader maps (memfds; the
 * /dev/shm file one test sends). */
static int count_shm_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/memfd:") || strstr(line, "/dev/shm/"))
			n++;
	fclose(f);
	return n;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static int reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, flags | O_CLOEXEC);
	assert_true(nfd >= 0);
	return nfd;
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* ---- payloads ---- */

static size_t payload_len(uint64_t seq)
{
	return 16 + (size_t)(seq * 7919 % 3000);
}

static void publish(struct mmsync_writer *w, uint64_t seq)
{
	size_t len = payload_len(seq);
	uint8_t *buf = malloc(len);
	struct mmsync_write_info info;

	assert_non_null(buf);
	payload_fill(buf, len, seq);
	assert_int_equal(mmsync_write(w, buf, len, 1000000000ull, &info), 0);
	assert_int_equal(info.seq, seq);
	assert_int_equal(info.written, len);
	free(buf);
}

/* One read: 0 when it is version @seq, whole; else a CHILD_* status. */
static int read_expect(struct mmsync_reader *r, uint64_t seq)
{
	struct mmsync_view v;
	uint64_t got;

	if (mmsync_read_begin(r, &v))
		return CHILD_BAD_READ;
	bool ok = v.seq == seq && v.len == payload_len(seq) &&
		  v.len == mmsync_version_size(v.version) && payload_check(v.data, v.len, &got) &&
		  got == seq;
	if (mmsync_read_end(r, &v) || !ok)
		return CHILD_BAD_READ;
	return 0;
}

/* ---- the writer's log ---- */

struct log_count {
	int refused;	/* "refused peer ..." */
	int dropped;	/* "reader N sent data: revoked" */
	int other;
	char last[256];
};

static void count_log(void *ctx, const char *msg)
{
	struct log_count *c = ctx;
	if (strstr(msg, "refused"))
		c->refused++;
	else if (strstr(msg, "sent data"))
		c->dropped++;
	else
		c->other++;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static struct mmsync_writer *writer_new(const char *name, unsigned max_readers,
					struct log_count *log)
{
	/* With checksums: the readers here verify every read. */
	MMSYNC_OPTS(mmsync_native_opts, o, .max_readers = max_readers, .capacity = 64 << 10,
		    .flags = MMSYNC_CHECKSUM, .log = count_log, .log_ctx = log);
	struct mmsync_writer *w;
	memset(log, 0, sizeof(*log));
	assert_int_equal(mmsync_writer_create(&w, uniq(name), &o), 0);
	return w;
}

static void writer_listen(struct mmsync_writer *w, char *name, size_t n, const uid_t *uids,
			  size_t nu)
{
	MMSYNC_OPTS(mmsync_listen_opts, lo, .allow_uids = uids, .n_allow_uids = nu);
	sock_name(name, n);
	assert_int_equal(mmsync_writer_listen(w, name, &lo), 0);
}

/* Dispatches until @cond holds or @ms pass. Return: whether it held. */
#define DISPATCH_UNTIL(w, cond, ms)                                        \
	__extension__({                                                    \
		uint64_t end_ = now_ms() + (ms);                           \
		bool ok_;                                                  \
		for (;;) {                                                 \
			assert_int_equal(mmsync_writer_dispatch(w), 0);    \
			if ((ok_ = (cond)))                                \
				break;                                     \
			if (now_ms() > end_)                               \
				break;                                     \
			usleep(200);                                       \
		}                                                          \
		ok_;                                                       \
	})

static int decode_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Dispatches until child @pid exits. Return: its status (as wait_child), or
 * -1 when it had to be killed. */
static int dispatch_wait(struct mmsync_writer *w, pid_t pid, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	int status;

	for (;;) {
		if (w)
			assert_int_equal(mmsync_writer_dispatch(w), 0);
		pid_t p = waitpid(pid, &status, WNOHANG);
		if (p == pid) {
			test_child_forget(pid);
			return decode_status(status);
		}
		assert_true(p == 0 || errno == EINTR);
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			test_child_forget(pid);
			return -1;
		}
		usleep(200);
	}
}

/* ---- a reader in a child process, told what to do through shared memory ---- */

enum { CMD_RUN, CMD_CLOSE, CMD_EXIT };

struct ctl {
	_Atomic int phase;	/* 1: connect returned (result set); 2: reader closed */
	_Atomic int result;	/* what mmsync_reader_connect() returned */
	_Atomic int cmd;
	_Atomic uint64_t seen;	/* last seq read, whole */
	_Atomic uint64_t reads, bad, missed;
	_Atomic int stat_req, stat_ack;
	_Atomic uint32_t live_slots;
};

/* Drops root for @uid (and gid @uid), keeping /proc/self readable. */
static void become(int uid)
{
	if (uid < 0)
		return;
	if (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid) ||
	    getuid() != (uid_t)uid || geteuid() != (uid_t)uid)
		_exit(CHILD_SETUP);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	/* A change of uid clears the parent-death signal (test_fork()). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
		_exit(CHILD_SETUP);
}

static void child_read(struct mmsync_reader *r, struct ctl *c)
{
	struct mmsync_view v;
	uint64_t got, last = atomic_load(&c->seen);

	int err = mmsync_read_begin(r, &v);
	if (err == -ENODATA)
		return;
	if (err) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	bool ok = true;
	if (v.seq != last)
		ok = v.len == payload_len(v.seq) && v.len == mmsync_version_size(v.version) &&
		     payload_check(v.data, v.len, &got) && got == v.seq;
	if (mmsync_read_end(r, &v))
		ok = false;
	if (!ok) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_fetch_add(&c->reads, 1);
	if (v.seq == last)
		return;
	/* The parent publishes the next version only once this one is seen:
	 * every version is read, in order. */
	if (v.seq != last + 1)
		atomic_fetch_add(&c->missed, 1);
	atomic_store(&c->seen, v.seq);
}

static __attribute__((noreturn)) void child_reader(struct ctl *c, const char *name, int uid)
{
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM, .timeout_ms = 5000);
	struct mmsync_reader *r = (void *)1;

	become(uid);
	int fds0 = count_fds(), maps0 = count_shm_maps();
	int err = mmsync_reader_connect(&r, name, &ro);
	bool handle_ok = err ? r == NULL : r != NULL;
	atomic_store(&c->result, err);
	atomic_store(&c->phase, 1);
	if (err) {
		if (count_fds() != fds0)
			_exit(CHILD_FD_LEAK);
		if (count_shm_maps() != maps0)
			_exit(CHILD_MAP_LEAK);
		_exit(handle_ok ? -err : CHILD_BAD_HANDLE);
	}
	uint64_t deadline = now_ms() + 60000;
	while (atomic_load(&c->cmd) != CMD_EXIT) {
		if (now_ms() > deadline || getppid() == 1)
			_exit(CHILD_TIMEOUT);
		if (r && atomic_load(&c->cmd) == CMD_CLOSE) {
			mmsync_reader_close(r);
			r = NULL;
			atomic_store(&c->phase, 2);
		}
		if (r)
			child_read(r, c);
		int req = atomic_load(&c->stat_req);
		if (r && req != atomic_load(&c->stat_ack)) {
			struct mmsync_stat st = { .sz = sizeof(st) };
			if (mmsync_reader_stat(r, &st) || !st.native)
				atomic_fetch_add(&c->bad, 1);
			atomic_store(&c->live_slots, st.live_slots);
			atomic_store(&c->stat_ack, req);
		}
		usleep(100);
	}
	mmsync_reader_close(r);
	if (count_fds() != fds0)
		_exit(CHILD_FD_LEAK);
	if (count_shm_maps() != maps0)
		_exit(CHILD_MAP_LEAK);
	_exit(!handle_ok ? CHILD_BAD_HANDLE
	      : atomic_load(&c->bad) || atomic_load(&c->missed) ? CHILD_BAD_READ : 0);
}

static pid_t spawn_reader(struct ctl *c, const char *name, int uid)
{
	memset(c, 0, sizeof(*c));
	fflush(NULL);
	pid_t pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_reader(c, name, uid);
	return pid;
}

/* Dispatches until the child's connect returns. Return: what it returned. */
static int reader_connected(struct mmsync_writer *w, struct ctl *c)
{
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->phase) >= 1, 10000));
	return atomic_load(&c->result);
}

/* Tells the child to exit. Return: its exit status. */
static int reader_finish(struct mmsync_writer *w, struct ctl *c, pid_t pid)
{
	atomic_store(&c->cmd, CMD_EXIT);
	return dispatch_wait(w, pid, 10000);
}

/* The writer's live_slots as the child's mmsync_reader_stat() sees it,
 * asked until it is @want (figures are those of the last dispatch). */
static uint32_t remote_live_slots(struct mmsync_writer *w, struct ctl *c, uint32_t want)
{
	uint64_t end = now_ms() + 5000;
	uint32_t got;
	do {
		int req = atomic_load(&c->stat_req) + 1;
		atomic_store(&c->stat_req, req);
		assert_true(DISPATCH_UNTIL(w, atomic_load(&c->stat_ack) == req, 5000));
		got = atomic_load(&c->live_slots);
	} while (got != want && now_ms() < end);
	return got;
}

/* Publishes @seq and dispatches until the child has read it. */
static void publish_seen(struct mmsync_writer *w, struct ctl *c, uint64_t seq)
{
	publish(w, seq);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == seq, 10000));
}

/* ---- a fake server ---- */

/* A handshake built by hand: memfds created, sized, mapped and sealed as
 * segment_create() does, the header filled as mmsync_writer_create() does,
 * and one version published as native_write() does. */
struct hs {
	int state_rw, copy_rw[2];	/* the "writer's" descriptors */
	struct native_header *h;	/* its writable mapping */
	void *copy[2];
	int state, copy_ro[2], slot;	/* what is sent */
	uint64_t capacity;
	struct native_msg m;
};

#define HS_MAX_READERS 4
#define HS_SEQ 7

static int memfd_sized(uint64_t size, unsigned seals, void **map)
{
	int fd = memfd_create("mmsync:hs", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (map) {
		*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		assert_true(*map != MAP_FAILED);
	}
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* A copy-like object: @size bytes, @seals, opened with @mode. */
static int object_ro(uint64_t size, unsigned seals, int mode)
{
	int fd = memfd_sized(size, seals, NULL);
	int nfd = reopen(fd, mode);
	close(fd);
	return nfd;
}

static void hs_make(struct hs *s)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	s->capacity = 4 * (uint64_t)page;
	s->state_rw = memfd_sized(NATIVE_STATE_SIZE, 0, &p);
	s->h = p;
	s->h->magic = NATIVE_MAGIC;
	s->h->flags = NATIVE_HDR_CHECKSUM;
	s->h->layout_version = NATIVE_LAYOUT_VERSION;
	s->h->header_size = sizeof(*s->h);
	s->h->max_readers = HS_MAX_READERS;
	s->h->generation = 1;
	s->h->capacity = s->capacity;
	s->h->copy[0].generation = s->h->copy[1].generation = 1;
	s->h->writer_pid = (uint32_t)getpid();
	snprintf(s->h->name, sizeof(s->h->name), "hs");
	assert_int_equal(fcntl(s->state_rw, F_ADD_SEALS, NATIVE_SEALS_COPY), 0);
	s->state = reopen(s->state_rw, O_RDONLY);
	for (int i = 0; i < 2; i++) {
		s->copy_rw[i] = memfd_sized(s->capacity, NATIVE_SEALS_COPY, &s->copy[i]);
		s->copy_ro[i] = reopen(s->copy_rw[i], O_RDONLY);
	}
	s->slot = object_ro((uint64_t)page, NATIVE_SEALS_SIZE, O_RDWR);

	/* Version HS_SEQ in copy 1. */
	size_t len = payload_len(HS_SEQ);
	payload_fill(s->copy[1], len, HS_SEQ);
	uint64_t version = 1 | (uint64_t)len << 1 | (mmsync_hash(s->copy[1], len) & 0xffffff) << 40;
	s->h->copy[1] = (struct native_copy_desc){ version, HS_SEQ, 1 };
	atomic_store(&s->h->li, 1);
	atomic_store(&s->h->seq, HS_SEQ);
	atomic_store(&s->h->version, version);

	s->m = (struct native_msg){
		.magic = NATIVE_MAGIC,
		.proto_version = NATIVE_PROTO_VERSION,
		.layout_version = NATIVE_LAYOUT_VERSION,
		.type = NATIVE_MSG_HELLO,
		.generation = 1,
		.capacity = s->capacity,
		.max_readers = HS_MAX_READERS,
		.slot_index = 0,
		.nr_fds = 4,
	};
	snprintf(s->m.name, sizeof(s->m.name), "hs");
}

static void hs_fds(const struct hs *s, int fds[4])
{
	fds[0] = s->state;
	fds[1] = s->copy_ro[0];
	fds[2] = s->copy_ro[1];
	fds[3] = s->slot;
}

static void hs_free(struct hs *s)
{
	munmap(s->h, NATIVE_STATE_SIZE);
	for (int i = 0; i < 2; i++) {
		munmap(s->copy[i], s->capacity);
		close(s->copy_rw[i]);
		close(s->copy_ro[i]);
	}
	close(s->state_rw);
	close(s->state);
	close(s->slot);
}

enum fake_action { FAKE_SEND, FAKE_CLOSE, FAKE_HOLD, FAKE_NONE };

/* Runs in the child: one connect, then whether it leaked. Return: 0 on
 * success (and, with @expect_seq, a read of that version), the errno it
 * failed with, or a CHILD_* status. */
static int connect_child(const char *name, unsigned timeout_ms, uint64_t expect_seq)
{
	MMSYNC_OPTS(mmsync_reader_opts, ro, .flags = MMSYNC_VERIFY_CHECKSUM, .timeout_ms = timeout_ms);
	struct mmsync_reader *r = (void *)1;
	int fds0 = count_fds(), maps0 = count_shm_maps();
	int err = mmsync_reader_connect(&r, name, &ro);
	int status = -err;

	if (err && r != NULL)
		return CHILD_BAD_HANDLE;
	if (!err) {
		if (!r)
			return CHILD_BAD_HANDLE;
		struct mmsync_stat st = { .sz = sizeof(st) };
		if (mmsync_reader_stat(r, &st) || !st.native || st.max_readers != HS_MAX_READERS ||
		    st.generation != 1 || st.seq != HS_SEQ)
			status = CHILD_BAD_READ;
		if (expect_seq && read_expect(r, expect_seq))
			status = CHILD_BAD_READ;
		mmsync_reader_close(r);
	}
	if (count_fds() != fds0)
		return CHILD_FD_LEAK;
	if (count_shm_maps() != maps0)
		return CHILD_MAP_LEAK;
	return status;
}

/* sendmsg with any number of descriptors (fdpass_send takes 8 at most). */
static int send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 32);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/*
 * One connect against a fake server: listen on a fresh abstract name, fork
 * a child that connects, accept, then send @buf with @fds (FAKE_SEND), close
 * at once (FAKE_CLOSE), or say nothing (FAKE_HOLD); FAKE_NONE listens on
 * nothing at all. The connection stays open until the child is done.
 * Return: the child's exit status (see connect_child()).
 */
static int fake_round_seq(enum fake_action act, const void *buf, size_t len, const int *fds,
			  unsigned nfds, unsigned timeout_ms, uint64_t expect_seq)
{
	char name[64];
	struct sockaddr_un sa;
	socklen_t salen;
	int lfd = -1, conn = -1;

	sock_name(name, sizeof(name));
	if (act != FAKE_NONE) {
		assert_int_equal(fdpass_addr(name, &sa, &salen), 0);
		lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		assert_true(lfd >= 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sa, salen), 0);
		assert_int_equal(listen(lfd, 8), 0);
	}
	fflush(NULL);
	pid_t pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(connect_child(name, timeout_ms, expect_seq));
	if (act != FAKE_NONE) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 10000), 1);
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(conn >= 0);
	}
	if (act == FAKE_SEND)
		assert_int_equal(nfds <= FDPASS_MAX_FDS ? fdpass_send(conn, buf, len, fds, nfds)
							: send_raw(conn, buf, len, fds, nfds), 0);
	if (act == FAKE_CLOSE) {
		close(conn);
		conn = -1;
	}
	int status = dispatch_wait(NULL, pid, 20000);
	if (conn >= 0)
		close(conn);
	if (lfd >= 0)
		close(lfd);
	return status;
}

static int fake_round(enum fake_action act, const void *buf, size_t len, const int *fds,
		      unsigned nfds)
{
	return fake_round_seq(act, buf, len, fds, nfds, 1000, 0);
}

/* The hand-built message and descriptors, with copy @which replaced by @fd. */
static int fake_with_copy(const struct hs *s, int which, int fd)
{
	int fds[4];
	hs_fds(s, fds);
	fds[1 + which] = fd;
	return fake_round(FAKE_SEND, &s->m, sizeof(s->m), fds, 4);
}

/* ---- 0. a hostile writer: what it cannot do, and what it cannot make a
 * reader do (crash, read past its mappings) ---- */

static void test_hostile_writer(void **unused)
{
	(void)unused;
	struct hs s;
	struct mmsync_reader *r;
	struct mmsync_view v;
	int fds[MMSYNC_NR_FDS];

	hs_make(&s);
	hs_fds(&s, fds);
	fds[MMSYNC_FD_SLOTS] = object_ro(4096, NATIVE_SEALS_SIZE, O_RDWR); /* the slot table */
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	assert_int_equal(read_expect(r, HS_SEQ), 0);

	/* Its own copies are sealed against it too: no shrinking, no growing. */
	assert_int_equal(ftruncate(s.copy_rw[0], 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(s.copy_rw[0], (off_t)s.capacity * 2), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fallocate(s.copy_rw[1], 0, 0, (off_t)s.capacity * 2), -1);
	assert_int_equal(errno, EPERM);

	/* A version beyond the capacity, or naming the other copy: refused
	 * before any access; nothing held after the refusal. */
	struct native_copy_desc good = s.h->copy[1];
	uint64_t sizes[] = { s.capacity + 1, MMSYNC_MAX_PAYLOAD, 1ull << 38 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		s.h->copy[1].version = 1 | sizes[i] << 1;
		assert_int_equal(mmsync_read_begin(r, &v), -EBADMSG);
	}
	s.h->copy[1].version = 0 | (uint64_t)64 << 1; /* idx 0 in copy 1's descriptor */
	assert_int_equal(mmsync_read_begin(r, &v), -EBADMSG);
	s.h->copy[1] = good;
	atomic_store(&s.h->li, 0xfffffff1u); /* only its low bit is used */
	assert_int_equal(read_expect(r, HS_SEQ), 0);
	atomic_store(&s.h->li, 1);

	/* A generation whose descriptors never come: a reader made from
	 * descriptors is told they are stale... */
	s.h->copy[1].generation = 2;
	assert_int_equal(mmsync_read_begin(r, &v), -ESTALE);
	mmsync_reader_close(r);
	/* ... and a connected one gets an error, not a hang or a crash. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ),
			 CHILD_BAD_READ);
	close(fds[MMSYNC_FD_SLOTS]);
	hs_free(&s);
}

/* ---- 1. a hostile writer: what the reader refuses ---- */

static void test_fake_good(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];

	hs_make(&s);
	hs_fds(&s, fds);
	/* Accepted, and the version published by hand reads back whole. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ), 0);
	/* Twice: the same descriptors serve any number of connects. */
	assert_int_equal(fake_round_seq(FAKE_SEND, &s.m, sizeof(s.m), fds, 4, 1000, HS_SEQ), 0);
	hs_free(&s);
}

static void test_fake_garbage(void **unused)
{
	(void)unused;
	uint8_t junk[17];
	uint64_t magic = NATIVE_MAGIC;
	unsigned seed = 17;
	struct hs s;
	int fds[4];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand_r(&seed);
	assert_true(memcmp(junk, &magic, sizeof(magic)) != 0);
	assert_int_equal(fake_round(FAKE_SEND, junk, sizeof(junk), NULL, 0), EPROTO);
	/* The same with descriptors attached: refused, and none left open. */
	hs_make(&s);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, junk, sizeof(junk), fds, 4), EPROTO);
	/* A single byte, and an empty message (which reads as end of stream:
	 * the writer hung up without a word). */
	assert_int_equal(fake_round(FAKE_SEND, junk, 1, NULL, 0), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, junk, 0, fds, 4), ECONNREFUSED);
	hs_free(&s);
}

/*
 * A message cut short. 12 bytes carry the magic and proto_version but not
 * layout_version: the reader cannot tell which layout the sender speaks, so
 * it is "not ours, or another version": -EPROTO (native_msg_check() wants
 * at least magic and both versions, offsetof(type) = 16 bytes, before it
 * trusts anything). From 16 bytes on, the sender has proved to be an mmsync
 * writer of this version, and a wrong length is an inconsistent message:
 * -EBADMSG. A longer message than struct native_msg is cut by recvmsg
 * (MSG_TRUNC): -EBADMSG too.
 */
static void test_fake_short(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	uint8_t big[sizeof(struct native_msg) + 8];

	hs_make(&s);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 12, NULL, 0), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 12, fds, 4), EPROTO);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, 16, fds, 4), EBADMSG);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m) - 1, fds, 4), EBADMSG);
	memset(big, 0, sizeof(big));
	memcpy(big, &s.m, sizeof(s.m));
	assert_int_equal(fake_round(FAKE_SEND, big, sizeof(big), fds, 4), EBADMSG);
	hs_free(&s);
}

static void test_fake_versions(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.magic ^= 1;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	m = s.m;
	m.proto_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	m = s.m;
	m.layout_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EPROTO);
	/* The header itself says another layout or is not ours. */
	s.h->magic ^= 1;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EPROTO);
	s.h->magic ^= 1;
	s.h->layout_version = 99;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EPROTO);
	s.h->layout_version = NATIVE_LAYOUT_VERSION;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), 0);
	hs_free(&s);
}

/* Fields out of range, or message and header that disagree. */
static void test_fake_inconsistent(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.type = NATIVE_MSG_GENERATION;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.capacity = 0;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.capacity = s.capacity * 2; /* the copies are smaller than it says */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.max_readers = 0;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.max_readers = HS_MAX_READERS + 1; /* the header says 4 */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.slot_index = HS_MAX_READERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	memset(m.name, 'x', sizeof(m.name)); /* not terminated */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	m = s.m;
	m.generation = 2; /* newer than the header's */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	s.h->header_size = 8;
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	s.h->header_size = sizeof(*s.h);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), 0);
	hs_free(&s);
}

static void test_fake_fd_count(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[12];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	/* The message says 4, three come. */
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 3), EBADMSG);
	/* The message says 3 and three come: still not a handshake. */
	m = s.m;
	m.nr_fds = 3;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 3), EBADMSG);
	/* None. */
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), NULL, 0), EBADMSG);
	/* Five, and twelve (more than fdpass_recv's buffer holds: MSG_CTRUNC). */
	for (int i = 4; i < 12; i++)
		fds[i] = s.copy_ro[i & 1];
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 5), EBADMSG);
	m = s.m;
	m.nr_fds = 5;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 5), EBADMSG);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 12), EBADMSG);
	hs_free(&s);
}

static void test_fake_copy_pipe(void **unused)
{
	(void)unused;
	struct hs s;
	int p[2];

	hs_make(&s);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fake_with_copy(&s, 0, p[0]), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, p[0]), EBADMSG);
	close(p[0]);
	close(p[1]);
	hs_free(&s);
}

/* A regular tmpfs file of the right size, read-only: it carries no seal
 * but F_SEAL_SEAL, so whoever holds it can truncate it under the reader. */
static void test_fake_copy_shm_file(void **unused)
{
	(void)unused;
	struct hs s;
	char path[] = "/dev/shm/mmsync-hs-XXXXXX";

	hs_make(&s);
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ftruncate(fd, (off_t)s.capacity), 0);
	int ro = reopen(fd, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, ro), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, ro), EBADMSG);
	close(ro);
	close(fd);
	hs_free(&s);
}

static void test_fake_copy_unsealed(void **unused)
{
	(void)unused;
	struct hs s;

	hs_make(&s);
	int none = object_ro(s.capacity, 0, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, none), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, none), EBADMSG);
	/* Sealed against resizing but not against writes by other holders. */
	int size_only = object_ro(s.capacity, NATIVE_SEALS_SIZE, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, size_only), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, size_only), EBADMSG);
	/* And F_SEAL_SEAL missing: the seals could still be changed. */
	int no_seal_seal = object_ro(s.capacity, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE,
				     O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, no_seal_seal), EBADMSG);
	/* The writer says hugetlbfs (NATIVE_FLAG_UNSEALED), the copies are not. */
	int fds[4];
	struct native_msg m = s.m;
	m.flags = NATIVE_FLAG_UNSEALED;
	hs_fds(&s, fds);
	fds[1] = fds[2] = none;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	hs_fds(&s, fds);
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EBADMSG);
	close(none);
	close(size_only);
	close(no_seal_seal);
	hs_free(&s);
}

static void test_fake_copy_writable(void **unused)
{
	(void)unused;
	struct hs s;

	hs_make(&s);
	int rw = object_ro(s.capacity, NATIVE_SEALS_COPY, O_RDWR);
	assert_int_equal(fake_with_copy(&s, 0, rw), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, rw), EBADMSG);
	/* The state too. */
	int fds[4];
	hs_fds(&s, fds);
	fds[0] = reopen(s.state_rw, O_RDWR);
	assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	close(fds[0]);
	close(rw);
	hs_free(&s);
}

static void test_fake_copy_wrong_size(void **unused)
{
	(void)unused;
	struct hs s;
	long page = sysconf(_SC_PAGESIZE);

	hs_make(&s);
	int big = object_ro(s.capacity + (uint64_t)page, NATIVE_SEALS_COPY, O_RDONLY);
	int small = object_ro(s.capacity - (uint64_t)page, NATIVE_SEALS_COPY, O_RDONLY);
	int empty = object_ro(0, NATIVE_SEALS_COPY, O_RDONLY);
	assert_int_equal(fake_with_copy(&s, 0, big), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, big), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 0, small), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, small), EBADMSG);
	assert_int_equal(fake_with_copy(&s, 1, empty), EBADMSG);
	close(big);
	close(small);
	close(empty);
	hs_free(&s);
}

/* The reader's own slot object: writable, one page, sealed against resizing. */
static void test_fake_bad_slot(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	long page = sysconf(_SC_PAGESIZE);

	hs_make(&s);
	hs_fds(&s, fds);
	int objs[4] = {
		object_ro((uint64_t)page, NATIVE_SEALS_SIZE, O_RDONLY),	/* read-only */
		object_ro((uint64_t)page, 0, O_RDWR),			/* resizable */
		object_ro(2 * (uint64_t)page, NATIVE_SEALS_SIZE, O_RDWR),	/* two pages */
		s.copy_ro[0],						/* a copy */
	};
	for (int i = 0; i < 4; i++) {
		fds[3] = objs[i];
		assert_int_equal(fake_round(FAKE_SEND, &s.m, sizeof(s.m), fds, 4), EBADMSG);
	}
	for (int i = 0; i < 3; i++)
		close(objs[i]);
	hs_free(&s);
}

/* A refusal: error set, no descriptor; the reader reports the writer's errno. */
static void test_fake_refusal(void **unused)
{
	(void)unused;
	struct hs s;
	int fds[4];
	struct native_msg m;

	hs_make(&s);
	hs_fds(&s, fds);
	m = s.m;
	m.nr_fds = 0;
	m.error = EUSERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EUSERS);
	/* Descriptors sent along with a refusal are closed, not kept. */
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), fds, 4), EUSERS);
	/* EACCES (not in the allow-list) reads as "refused". */
	m.error = EACCES;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), ECONNREFUSED);
	/* No errno: inconsistent. */
	m.error = 5000;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EBADMSG);
	m.error = -EUSERS;
	assert_int_equal(fake_round(FAKE_SEND, &m, sizeof(m), NULL, 0), EBADMSG);
	hs_free(&s);
}

static void test_fake_close(void **unused)
{
	(void)unused;
	assert_int_equal(fake_round(FAKE_CLOSE, NULL, 0, NULL, 0), ECONNREFUSED);
}

static void test_fake_silent(void **unused)
{
	(void)unused;
	uint64_t t0 = now_ms();
	assert_int_equal(fake_round_seq(FAKE_HOLD, NULL, 0, NULL, 0, 200, 0), ETIMEDOUT);
	uint64_t dt = now_ms() - t0;
	assert_true(dt >= 190);
	assert_true(dt < 5000);
}

static void test_no_server(void **unused)
{
	(void)unused;
	assert_int_equal(fake_round(FAKE_NONE, NULL, 0, NULL, 0), ECONNREFUSED);
}

/* ---- 2. what a real writer hands out cannot be written or resized ---- */

/* A header or copy: read-only, sealed, and nothing a holder does changes
 * its size, its seals or its bytes. */
static void check_sealed_ro(int fd, uint64_t size)
{
	struct stat st;
	void *p;

	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, size);
	assert_int_equal(fcntl(fd, F_GET_SEALS), NATIVE_SEALS_COPY);
	assert_int_equal(NATIVE_SEALS_COPY,
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | F_SEAL_FUTURE_WRITE);

	uint8_t *ro = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(ro != MAP_FAILED);
	uint8_t *before = malloc(size);
	assert_non_null(before);
	memcpy(before, ro, size);

	errno = 0;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p == MAP_FAILED);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(mprotect(ro, size, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(mprotect(ro, size, PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)size * 2), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(fallocate(fd, 0, 0, (off_t)size * 2), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);

	/* A description of its own through /proc: root may open it
	 * read-write, and then the seals alone must hold. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		errno = 0;
		assert_int_equal(write(rw, "x", 1), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(pwrite(rw, "x", 1, 0), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
		assert_true(p == MAP_FAILED);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(ftruncate(rw, 0), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(ftruncate(rw, (off_t)size * 2), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fallocate(rw, 0, 0, (off_t)size * 2), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fallocate(rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
					   (off_t)size), -1);
		assert_int_equal(errno, EPERM);
		errno = 0;
		assert_int_equal(fcntl(rw, F_ADD_SEALS, F_SEAL_WRITE), -1);
		assert_int_equal(errno, EPERM);
		close(rw);
	} else {
		assert_int_equal(errno, EACCES);
	}

	assert_int_equal(fcntl(fd, F_GET_SEALS), NATIVE_SEALS_COPY);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_memory_equal(ro, before, size);
	free(before);
	munmap(ro, size);
}

/* A slot object or the slot table: writable, but of a fixed size. */
static void check_slots(int fd, uint64_t size)
{
	struct stat st;

	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, size);
	assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	munmap(p, size);
	errno = 0;
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)size * 2), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(fallocate(fd, 0, 0, (off_t)size * 2), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
}

/* A reader from @fds reads version @seq. */
static void check_reads(const int fds[MMSYNC_NR_FDS], uint64_t seq)
{
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_from_fds(&r, fds, NULL), 0);
	assert_int_equal(read_expect(r, seq), 0);
	mmsync_reader_close(r);
}

/* A raw client in this process: connects to @name, dispatches until the
 * writer has answered, and receives that answer. Return: the client socket. */
static int raw_hello(struct mmsync_writer *w, const char *name, struct native_msg *m, long *len,
		     int fds[FDPASS_MAX_FDS], unsigned *nfds)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(c >= 0);
	assert_int_equal(fdpass_addr(name, &sa, &salen), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, salen), 0);
	struct pollfd pfd = { .fd = c, .events = POLLIN };
	assert_true(DISPATCH_UNTIL(w, poll(&pfd, 1, 0) == 1, 5000));
	memset(m, 0, sizeof(*m));
	*len = fdpass_recv(c, m, sizeof(*m), MSG_DONTWAIT, fds, FDPASS_MAX_FDS, nfds);
	return c;
}

/* A refusal as it goes on the wire: a whole message, the errno, no
 * descriptor, then the end of the connection. */
static void check_raw_refusal(struct mmsync_writer *w, const char *name, int error)
{
	struct native_msg m;
	long len;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds;
	char b;

	int c = raw_hello(w, name, &m, &len, fds, &nfds);
	assert_int_equal(len, sizeof(m));
	assert_int_equal(nfds, 0);
	assert_int_equal(m.error, error);
	assert_int_equal(m.magic, NATIVE_MAGIC);
	assert_int_equal(native_msg_check(&m, sizeof(m), NATIVE_MSG_HELLO, 0), -error);
	assert_int_equal(recv(c, &b, 1, MSG_DONTWAIT), 0);
	close(c);
}

static void test_writer_socket_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct mmsync_stat st = { .sz = sizeof(st) };
	long page = sysconf(_SC_PAGESIZE);

	struct mmsync_writer *w = writer_new("hs-socket-fds", 4, &log);
	writer_listen(w, name, sizeof(name), NULL, 0);
	publish(w, 1);

	struct native_msg m;
	long len;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds;
	int c = raw_hello(w, name, &m, &len, fds, &nfds);
	assert_int_equal(len, sizeof(m));
	assert_int_equal(nfds, 4);
	assert_int_equal(native_msg_check(&m, sizeof(m), NATIVE_MSG_HELLO, nfds), 0);
	assert_int_equal(m.error, 0);
	assert_int_equal(m.max_readers, 4);

	check_sealed_ro(fds[0], NATIVE_STATE_SIZE);
	check_sealed_ro(fds[1], m.capacity);
	check_sealed_ro(fds[2], m.capacity);
	check_slots(fds[3], (uint64_t)page);

	/* The writer goes on: what was received still reads, and so do the
	 * next versions. */
	int ex[MMSYNC_NR_FDS];
	assert_int_equal(mmsync_writer_export_fds(w, ex), 0);
	check_reads(ex, 1);
	publish(w, 2);
	check_reads(ex, 2);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	struct mmsync_reader *r;
	assert_int_equal(mmsync_reader_from_fds(&r, ex, NULL), 0);
	assert_int_equal(mmsync_reader_stat(r, &st), 0);
	assert_int_equal(st.live_slots, 1); /* the raw client */
	mmsync_reader_close(r);
	for (int i = 0; i < 4; i++) {
		close(fds[i]);
		close(ex[i]);
	}
	close(c);
	assert_int_equal(log.refused + log.dropped + log.other, 0);
	mmsync_writer_close(w);
}

static void test_writer_export_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	int fds[MMSYNC_NR_FDS];
	long page = sysconf(_SC_PAGESIZE);
	struct mmsync_writer *w = writer_new("hs-export-fds", 100, &log);

	publish(w, 1);
	assert_int_equal(mmsync_writer_export_fds(w, fds), 0);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
	check_sealed_ro(fds[MMSYNC_FD_STATE], NATIVE_STATE_SIZE);
	check_sealed_ro(fds[MMSYNC_FD_COPY0], 64 << 10);
	check_sealed_ro(fds[MMSYNC_FD_COPY1], 64 << 10);
	/* 100 slots of 64 bytes, rounded up to the page. */
	uint64_t table = (100 * sizeof(struct native_slot) + (uint64_t)page - 1) / (uint64_t)page *
			 (uint64_t)page;
	check_slots(fds[MMSYNC_FD_SLOTS], table);
	check_reads(fds, 1);
	publish(w, 2);
	check_reads(fds, 2);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	mmsync_writer_close(w);
}

/* A listen that failed (the name is taken) leaves the writer able to
 * listen elsewhere; a second listen is -EBUSY. */
static void test_listen_retry(void **unused)
{
	(void)unused;
	struct log_count log;
	char busy[64], name[64];
	struct sockaddr_un sa;
	socklen_t salen;
	struct ctl *c = shared_alloc(sizeof(*c));
	struct mmsync_writer *w = writer_new("hs-retry", 4, &log);

	sock_name(busy, sizeof(busy));
	assert_int_equal(fdpass_addr(busy, &sa, &salen), 0);
	int squatter = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(squatter >= 0);
	assert_int_equal(bind(squatter, (struct sockaddr *)&sa, salen), 0);
	assert_int_equal(listen(squatter, 4), 0);
	/* A failed listen keeps nothing of its options (LeakSanitizer checks). */
	uid_t allow[1] = { 0 };
	MMSYNC_OPTS(mmsync_listen_opts, lo, .allow_uids = allow, .n_allow_uids = 1);
	assert_int_equal(mmsync_writer_listen(w, busy, &lo), -EADDRINUSE);
	assert_int_equal(mmsync_writer_listen(w, busy, NULL), -EADDRINUSE);
	sock_name(name, sizeof(name));
	assert_int_equal(mmsync_writer_listen(w, name, NULL), 0);
	assert_int_equal(mmsync_writer_listen(w, name, NULL), -EBUSY);

	publish(w, 1);
	pid_t pid = spawn_reader(c, name, -1);
	assert_int_equal(reader_connected(w, c), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == 1, 10000));
	assert_int_equal(reader_finish(w, c, pid), 0);
	struct pollfd p = { .fd = squatter, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	close(squatter);
	assert_int_equal(log.refused + log.dropped + log.other, 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
}

/* ---- 3. the allow-list ---- */

/* A writer allowing @uid only: a child as @refused_uid is refused (logged
 * once), then a child as @good_uid connects and reads. */
static void allow_list_case(uid_t allowed, int refused_uid, int good_uid)
{
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(sizeof(*c));
	struct mmsync_writer *w = writer_new("hs-allow", 8, &log);

	writer_listen(w, name, sizeof(name), &allowed, 1);
	publish(w, 1);

	pid_t pid = spawn_reader(c, name, refused_uid);
	assert_int_equal(reader_connected(w, c), -ECONNREFUSED);
	assert_int_equal(dispatch_wait(w, pid, 10000), ECONNREFUSED);
	assert_int_equal(log.refused, 1);
	assert_non_null(strstr(log.last, "allow-list"));
	char uidstr[32];
	snprintf(uidstr, sizeof(uidstr), "uid %d ", refused_uid < 0 ? 0 : refused_uid);
	assert_non_null(strstr(log.last, uidstr));

	/* A second refused peer: one more line, no more. Root is refused
	 * here: see it on the wire, from this process. */
	if (refused_uid < 0) {
		check_raw_refusal(w, name, EACCES);
	} else {
		pid = spawn_reader(c, name, refused_uid);
		assert_int_equal(reader_connected(w, c), -ECONNREFUSED);
		assert_int_equal(dispatch_wait(w, pid, 10000), ECONNREFUSED);
	}
	assert_int_equal(log.refused, 2);

	/* The writer keeps serving. */
	pid = spawn_reader(c, name, good_uid);
	assert_int_equal(reader_connected(w, c), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == 1, 10000));
	publish_seen(w, c, 2);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	assert_int_equal(reader_finish(w, c, pid), 0);
	assert_int_equal(log.refused, 2);
	assert_int_equal(log.other, 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
}

static void test_allow_root_refused(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	/* Root is not in { 12345 }; uid 12345 is. */
	allow_list_case(12345, -1, 12345);
}

static void test_allow_nobody_refused(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	allow_list_case(0, NOBODY, -1);
}

static void test_allow_nobody_allowed(void **unused)
{
	(void)unused;
	if (geteuid() != 0)
		test_skip_or_fail("needs root (setuid)");
	/* { 65534 }: nobody gets in, root does not. */
	allow_list_case(NOBODY, -1, NOBODY);
}

/* ---- 4. hostile clients ---- */

struct hostile {
	_Atomic int ready;	/* every connection made */
	_Atomic int release;	/* close them all and exit */
};

enum { N_GARBAGE = 50, N_HANGUP = 50, N_HOLD = 20 };

static int raw_connect(const char *name)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || fdpass_addr(name, &sa, &salen) || connect(s, (struct sockaddr *)&sa, salen))
		_exit(CHILD_SETUP);
	return s;
}

static __attribute__((noreturn)) void hostile_child(const char *name, struct hostile *h)
{
	int garbage[N_GARBAGE], hold[N_HOLD], p[2];
	uint8_t junk[100];
	unsigned seed = 99;

	if (pipe(p))
		_exit(CHILD_SETUP);
	for (int i = 0; i < N_GARBAGE; i++) {
		garbage[i] = raw_connect(name);
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)rand_r(&seed);
		/* Every other one passes the writer a descriptor, too. */
		if (fdpass_send(garbage[i], junk, sizeof(junk), p, i & 1))
			_exit(CHILD_SETUP);
	}
	for (int i = 0; i < N_HANGUP; i++)
		close(raw_connect(name));
	for (int i = 0; i < N_HOLD; i++)
		hold[i] = raw_connect(name);
	atomic_store(&h->ready, 1);
	uint64_t deadline = now_ms() + 60000;
	while (!atomic_load(&h->release))
		if (now_ms() > deadline || getppid() == 1)
			_exit(CHILD_TIMEOUT);
		else
			usleep(1000);
	for (int i = 0; i < N_GARBAGE; i++)
		close(garbage[i]);
	for (int i = 0; i < N_HOLD; i++)
		close(hold[i]);
	_exit(0);
}

static void test_hostile_clients(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(sizeof(*c));
	struct hostile *h = shared_alloc(sizeof(*h));
	uint64_t seq = 0;
	struct mmsync_writer *w = writer_new("hs-hostile", 0, &log);

	writer_listen(w, name, sizeof(name), NULL, 0);
	pid_t good = spawn_reader(c, name, -1);
	assert_int_equal(reader_connected(w, c), 0);
	for (int i = 0; i < 3; i++)
		publish_seen(w, c, ++seq);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	int baseline = count_fds(), maps = count_shm_maps();
	long rss = rss_kib();

	fflush(NULL);
	pid_t bad = test_fork();
	assert_true(bad >= 0);
	if (bad == 0)
		hostile_child(name, h);
	/* Publishing all along: the good reader sees every version. */
	uint64_t end = now_ms() + 30000;
	while (!atomic_load(&h->ready) && now_ms() < end)
		publish_seen(w, c, ++seq);
	assert_true(atomic_load(&h->ready));
	assert_true(DISPATCH_UNTIL(w, log.dropped == N_GARBAGE, 10000));
	/* Hang-ups taken back, holders served, garbage senders revoked: their
	 * slots are kept until they die (the slot object's lock travels in the
	 * handshake they never read, so they hold it while they live). */
	assert_int_equal(remote_live_slots(w, c, 1 + N_HOLD + N_GARBAGE), 1 + N_HOLD + N_GARBAGE);
	for (int i = 0; i < 5; i++)
		publish_seen(w, c, ++seq);

	atomic_store(&h->release, 1);
	assert_int_equal(dispatch_wait(w, bad, 10000), 0);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	assert_true(DISPATCH_UNTIL(w, count_fds() == baseline, 5000));
	assert_int_equal(count_fds(), baseline);
	/* Memory too: every slot object the hostile clients got is unmapped,
	 * and the writer's resident memory did not grow with them. */
	assert_int_equal(count_shm_maps(), maps);
	print_message("writer: %ld KiB resident before the hostile clients, %ld after\n", rss, rss_kib());
	assert_true(rss_kib() - rss < 4096);
	for (int i = 0; i < 5; i++)
		publish_seen(w, c, ++seq);

	assert_int_equal(log.dropped, N_GARBAGE);
	assert_int_equal(log.refused, 0);
	assert_int_equal(reader_finish(w, c, good), 0);
	assert_int_equal(atomic_load(&c->seen), seq);
	assert_int_equal(atomic_load(&c->missed), 0);
	assert_int_equal(atomic_load(&c->bad), 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
	munmap(h, sizeof(*h));
}

/* ---- 5. max_readers ---- */

static void test_max_readers(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(6 * sizeof(*c));
	pid_t pid[6];
	struct mmsync_writer *w = writer_new("hs-max", 3, &log);

	writer_listen(w, name, sizeof(name), NULL, 0);
	publish(w, 1);
	for (int i = 0; i < 3; i++) {
		pid[i] = spawn_reader(&c[i], name, -1);
		assert_int_equal(reader_connected(w, &c[i]), 0);
		assert_true(DISPATCH_UNTIL(w, atomic_load(&c[i].seen) == 1, 10000));
	}
	assert_int_equal(remote_live_slots(w, &c[0], 3), 3);

	pid[3] = spawn_reader(&c[3], name, -1);
	assert_int_equal(reader_connected(w, &c[3]), -EUSERS);
	assert_int_equal(dispatch_wait(w, pid[3], 10000), EUSERS);
	assert_int_equal(log.refused, 1);
	assert_non_null(strstr(log.last, "slots in use"));
	check_raw_refusal(w, name, EUSERS);
	assert_int_equal(log.refused, 2);

	/* Reader 0 closes its handle (its process lives on): its slot is
	 * taken back at the next dispatch, and a new reader gets it. */
	atomic_store(&c[0].cmd, CMD_CLOSE);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[0].phase) == 2, 10000));
	assert_int_equal(remote_live_slots(w, &c[1], 2), 2);
	pid[4] = spawn_reader(&c[4], name, -1);
	assert_int_equal(reader_connected(w, &c[4]), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[4].seen) == 1, 10000));
	publish_seen(w, &c[4], 2);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[1].seen) == 2 && atomic_load(&c[2].seen) == 2,
				   10000));
	assert_int_equal(remote_live_slots(w, &c[1], 3), 3);

	/* Full again. */
	pid[5] = spawn_reader(&c[5], name, -1);
	assert_int_equal(reader_connected(w, &c[5]), -EUSERS);
	assert_int_equal(dispatch_wait(w, pid[5], 10000), EUSERS);
	assert_int_equal(log.refused, 3);

	int live[] = { 0, 1, 2, 4 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(reader_finish(w, &c[live[i]], pid[live[i]]), 0);
	assert_int_equal(log.other + log.dropped, 0);
	mmsync_writer_close(w);
	munmap(c, 6 * sizeof(*c));
}

/* ---- 6. mmsync_reader_from_fds with bad descriptors ---- */

/* from_fds on @fds: its result, with no descriptor nor mapping left behind. */
static int from_fds_noleak(const int fds[MMSYNC_NR_FDS])
{
	struct mmsync_reader *r = (void *)1;
	int fds0 = count_fds(), maps0 = count_shm_maps();
	int err = mmsync_reader_from_fds(&r, fds, NULL);
	if (err) {
		assert_null(r);
		assert_int_equal(count_fds(), fds0);
		assert_int_equal(count_shm_maps(), maps0);
	} else {
		mmsync_reader_close(r);
	}
	return err;
}

static void test_from_fds(void **unused)
{
	(void)unused;
	struct log_count log;
	int ex[4][MMSYNC_NR_FDS], fds[MMSYNC_NR_FDS], p[2];
	struct mmsync_reader *r[4];
	struct mmsync_writer *w = writer_new("hs-from-fds", 3, &log);

	publish(w, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(mmsync_writer_export_fds(w, ex[i]), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* A pipe as the state. */
	memcpy(fds, ex[0], sizeof(fds));
	fds[MMSYNC_FD_STATE] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* A state that is not ours: sealed, read-only, 4096 zero bytes. */
	int zero = object_ro(NATIVE_STATE_SIZE, NATIVE_SEALS_COPY, O_RDONLY);
	fds[MMSYNC_FD_STATE] = zero;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);

	/* A header of this layout in all but the magic. */
	void *hp;
	int not_ours_rw = memfd_sized(NATIVE_STATE_SIZE, 0, &hp);
	struct native_header *nh = hp;
	nh->magic = NATIVE_MAGIC ^ 1;
	nh->layout_version = NATIVE_LAYOUT_VERSION;
	nh->header_size = sizeof(*nh);
	nh->max_readers = 3;
	nh->generation = 1;
	nh->capacity = 64 << 10;
	assert_int_equal(fcntl(not_ours_rw, F_ADD_SEALS, NATIVE_SEALS_COPY), 0);
	int not_ours = reopen(not_ours_rw, O_RDONLY);
	fds[MMSYNC_FD_STATE] = not_ours;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);
	nh->magic = NATIVE_MAGIC; /* the control: now it is ours */
	assert_int_equal(from_fds_noleak(fds), 0);
	nh->layout_version = 99;
	assert_int_equal(from_fds_noleak(fds), -EPROTO);
	munmap(hp, NATIVE_STATE_SIZE);
	close(not_ours_rw);
	close(not_ours);

	/* The state unsealed. */
	int unsealed = object_ro(NATIVE_STATE_SIZE, 0, O_RDONLY);
	fds[MMSYNC_FD_STATE] = unsealed;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* The table read-only, or a pipe. */
	memcpy(fds, ex[0], sizeof(fds));
	int table_ro = reopen(ex[0][MMSYNC_FD_SLOTS], O_RDONLY);
	fds[MMSYNC_FD_SLOTS] = table_ro;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	fds[MMSYNC_FD_SLOTS] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* A copy opened read-write, or not sealed against writes. */
	memcpy(fds, ex[0], sizeof(fds));
	int copy_rw = reopen(ex[0][MMSYNC_FD_COPY1], O_RDWR);
	fds[MMSYNC_FD_COPY1] = copy_rw;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	int copy_size_only = object_ro(64 << 10, NATIVE_SEALS_SIZE, O_RDONLY);
	fds[MMSYNC_FD_COPY1] = copy_size_only;
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);

	/* Valid: reads what was published. */
	assert_int_equal(from_fds_noleak(ex[0]), 0);
	check_reads(ex[0], 1);

	/* max_readers = 3: three readers from three exports, the fourth
	 * finds no free slot. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mmsync_reader_from_fds(&r[i], ex[i], NULL), 0);
		assert_int_equal(read_expect(r[i], 1), 0);
	}
	r[3] = (void *)1;
	assert_int_equal(mmsync_reader_from_fds(&r[3], ex[3], NULL), -EUSERS);
	assert_null(r[3]);
	assert_int_equal(from_fds_noleak(ex[3]), -EUSERS);
	/* The writer counts them (it probes the table every 100 ms). */
	usleep(150000);
	assert_int_equal(mmsync_writer_dispatch(w), 0);
	struct mmsync_stat st = { .sz = sizeof(st) };
	assert_int_equal(mmsync_reader_stat(r[0], &st), 0);
	assert_int_equal(st.live_slots, 3);
	assert_int_equal(st.max_readers, 3);
	/* One leaves: its slot is free at once. */
	mmsync_reader_close(r[1]);
	assert_int_equal(mmsync_reader_from_fds(&r[3], ex[3], NULL), 0);
	publish(w, 2);
	assert_int_equal(read_expect(r[3], 2), 0);
	assert_int_equal(read_expect(r[0], 2), 0);
	mmsync_reader_close(r[0]);
	mmsync_reader_close(r[2]);
	mmsync_reader_close(r[3]);

	close(zero);
	close(unsealed);
	close(table_ro);
	close(copy_rw);
	close(copy_size_only);
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < MMSYNC_NR_FDS; k++)
			close(ex[i][k]);
	mmsync_writer_close(w);
}

/*
 * Copies that are not the header's size: descriptors exported before a new
 * generation are stale (-ESTALE), by design. But a pipe (or any descriptor
 * of the wrong type) as a copy is -EBADMSG, as everywhere else: the type is
 * checked before the size is compared with the header's capacity.
 */
static void test_from_fds_stale(void **unused)
{
	(void)unused;
	struct log_count log;
	int ex[MMSYNC_NR_FDS], fresh[MMSYNC_NR_FDS], fds[MMSYNC_NR_FDS], p[2];
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct mmsync_writer *w = writer_new("hs-from-fds-stale", 3, &log);

	publish(w, 1);
	assert_int_equal(mmsync_writer_export_fds(w, ex), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, ex, NULL), 0);
	assert_int_equal(read_expect(r, 1), 0);

	/* A payload larger than the copies: a new generation. */
	size_t big = (64 << 10) + 1;
	uint8_t *buf = calloc(1, big);
	assert_non_null(buf);
	assert_int_equal(mmsync_write(w, buf, big, 1000000000ull, NULL), 0);
	free(buf);
	assert_int_equal(mmsync_read_begin(r, &v), -ESTALE);
	mmsync_reader_close(r);
	assert_int_equal(from_fds_noleak(ex), -ESTALE);
	assert_int_equal(mmsync_writer_export_fds(w, fresh), 0);
	assert_int_equal(mmsync_reader_from_fds(&r, fresh, NULL), 0);
	assert_int_equal(mmsync_read_begin(r, &v), 0);
	assert_int_equal(v.len, big);
	assert_int_equal(mmsync_read_end(r, &v), 0);
	mmsync_reader_close(r);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	memcpy(fds, fresh, sizeof(fds));
	fds[MMSYNC_FD_COPY0] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	memcpy(fds, fresh, sizeof(fds));
	fds[MMSYNC_FD_COPY1] = p[0];
	assert_int_equal(from_fds_noleak(fds), -EBADMSG);
	close(p[0]);
	close(p[1]);
	for (int k = 0; k < MMSYNC_NR_FDS; k++) {
		close(ex[k]);
		close(fresh[k]);
	}
	mmsync_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_fake_good),
		test_case(test_hostile_writer),
		test_case(test_fake_garbage),
		test_case(test_fake_short),
		test_case(test_fake_versions),
		test_case(test_fake_inconsistent),
		test_case(test_fake_fd_count),
		test_case(test_fake_copy_pipe),
		test_case(test_fake_copy_shm_file),
		test_case(test_fake_copy_unsealed),
		test_case(test_fake_copy_writable),
		test_case(test_fake_copy_wrong_size),
		test_case(test_fake_bad_slot),
		test_case(test_fake_refusal),
		test_case(test_fake_close),
		test_case(test_fake_silent),
		test_case(test_no_server),
		test_case(test_writer_socket_fds),
		test_case(test_writer_export_fds),
		test_case(test_listen_retry),
		test_case(test_allow_root_refused),
		test_case(test_allow_nobody_refused),
		test_case(test_allow_nobody_allowed),
		test_case(test_hostile_clients),
		test_case(test_max_readers),
		test_case(test_from_fds),
		test_case(test_from_fds_stale),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
