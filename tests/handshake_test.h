/* SPDX-License-Identifier: MIT */
/* What the handshake tests share: a writer with a log counter, driven by
 * mmsync_writer_dispatch(); readers in child processes, told what to do
 * through shared memory; memfds made by hand; a raw client's hello.
 * Included after cmocka.h and harness.h. */
#ifndef MMSYNC_TEST_HANDSHAKE_H
#define MMSYNC_TEST_HANDSHAKE_H

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


static unsigned name_counter;

static inline void sock_name(char *buf, size_t n)
{
	snprintf(buf, n, "@mmsync-hs-%d-%u", (int)getpid(), name_counter++);
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Mappings of shared memory objects: what a reader maps (memfds; the
 * /dev/shm file one test sends). */
static inline int count_shm_maps(void)
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

static inline int reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, flags | O_CLOEXEC);
	assert_true(nfd >= 0);
	return nfd;
}

static inline void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* ---- payloads ---- */

static inline size_t payload_len(uint64_t seq)
{
	return 16 + (size_t)(seq * 7919 % 3000);
}

static inline void publish(struct mmsync_writer *w, uint64_t seq)
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
static inline int read_expect(struct mmsync_reader *r, uint64_t seq)
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

static inline void count_log(void *ctx, const char *msg)
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

static inline struct mmsync_writer *writer_new(const char *name, unsigned max_readers,
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

static inline void writer_listen(struct mmsync_writer *w, char *name, size_t n,
				 const uid_t *uids, size_t nu)
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

static inline int decode_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Dispatches until child @pid exits. Return: its status (as wait_child), or
 * -1 when it had to be killed. */
static inline int dispatch_wait(struct mmsync_writer *w, pid_t pid, unsigned ms)
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
static inline void become(int uid)
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

static inline void child_read(struct mmsync_reader *r, struct ctl *c)
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

static inline __attribute__((noreturn)) void child_reader(struct ctl *c, const char *name,
								 int uid)
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

static inline pid_t spawn_reader(struct ctl *c, const char *name, int uid)
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
static inline int reader_connected(struct mmsync_writer *w, struct ctl *c)
{
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->phase) >= 1, 10000));
	return atomic_load(&c->result);
}

/* Tells the child to exit. Return: its exit status. */
static inline int reader_finish(struct mmsync_writer *w, struct ctl *c, pid_t pid)
{
	atomic_store(&c->cmd, CMD_EXIT);
	return dispatch_wait(w, pid, 10000);
}

/* The writer's live_slots as the child's mmsync_reader_stat() sees it,
 * asked until it is @want (figures are those of the last dispatch). */
static inline uint32_t remote_live_slots(struct mmsync_writer *w, struct ctl *c, uint32_t want)
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
static inline void publish_seen(struct mmsync_writer *w, struct ctl *c, uint64_t seq)
{
	publish(w, seq);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c->seen) == seq, 10000));
}

/* ---- memfds made by hand ---- */

static inline int memfd_sized(uint64_t size, unsigned seals, void **map)
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
static inline int object_ro(uint64_t size, unsigned seals, int mode)
{
	int fd = memfd_sized(size, seals, NULL);
	int nfd = reopen(fd, mode);
	close(fd);
	return nfd;
}

/* ---- a raw client ---- */

/* A raw client in this process: connects to @name, dispatches until the
 * writer has answered, and receives that answer. Return: the client socket. */
static inline int raw_hello(struct mmsync_writer *w, const char *name, struct native_msg *m,
			    long *len, int fds[FDPASS_MAX_FDS], unsigned *nfds)
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
static inline void check_raw_refusal(struct mmsync_writer *w, const char *name, int error)
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

/* With copies of @capacity bytes (sparse memfds). */
static inline void hs_make_sized(struct hs *s, uint64_t capacity)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	s->capacity = capacity;
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

static inline void hs_make(struct hs *s)
{
	hs_make_sized(s, 4 * (uint64_t)sysconf(_SC_PAGESIZE));
}

static inline void hs_fds(const struct hs *s, int fds[4])
{
	fds[0] = s->state;
	fds[1] = s->copy_ro[0];
	fds[2] = s->copy_ro[1];
	fds[3] = s->slot;
}

static inline void hs_free(struct hs *s)
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


#endif
