/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-wake: how long a reader process takes to see a publish when
 * it sleeps until one, against a reader that spins and against the raw
 * mechanisms the library builds on; and what waking costs a publish that
 * nobody waits for.
 *
 *   mmsync-bench-wake [--rounds N] [--herd N] [--json FILE]
 *
 * Latency, publish to seen, one writer (this process) and one reader
 * (a child), N rounds (default 2000), p50 and p99 in microseconds:
 *   busy poll       the reader spins on mmsync_read_begin()/end()
 *   mmsync_wait()   native reader, connected; also fenced (MMSYNC_FENCED),
 *                   whose writer issues no membarrier at a publish
 *   reader fd       epoll_wait() on an epoll set holding mmsync_reader_fd()
 *   futex, eventfd  raw baselines: FUTEX_WAIT/FUTEX_WAKE on a shared word;
 *                   an eventfd written, under epoll_wait()
 *   compat          mmsync_wait() on a compat segment, the writer with
 *                   MMSYNC_WAKE_WAITERS, and without (N but at most 100
 *                   rounds: it sees a publish within 10 ms)
 * Each round: the reader says it is ready (a shared counter) and sleeps;
 * the writer waits for that, pauses 200 µs so that the reader really is
 * asleep, stores t0 (CLOCK_MONOTONIC) in shared memory and publishes 36
 * bytes whose first 8 are the round number (or signals it); the reader
 * takes t1 once it has read the new version, checks the round it read
 * (another one is an error) and records t1 - t0. 3 rounds before are not
 * counted, and one after only lets the readers go. The sleeping methods
 * take turns, a round each, so that a noisy machine's drift falls on all
 * of them alike; the spinner and the compat reader without wakes run on
 * their own. With 2 CPUs or more the writer is pinned to one, the readers
 * to another (50 of them: to all the others).
 *
 * Then: ns per mmsync_write() of 36 bytes, native, with no reader and with
 * a reader connected that does not wait, fenced and by default (which
 * costs each publish a membarrier), median of 7 rounds of 20000, with the
 * writers' futex_wakes and wake_msgs, which must stay 0; a bare
 * FUTEX_WAKE with no waiter; a compat write with and without
 * MMSYNC_WAKE_WAITERS. Last, --herd readers (default 50) each in
 * mmsync_wait() on a reader of its own: publish to the first and to the
 * last of them awake, over N but at most 50 rounds.
 *
 * A reader that never wakes fails the run after 5 s (exit status 1, with
 * where each reader sleeps), as does any error or a wake counted with no
 * one waiting; children die with this process (PR_SET_PDEATHSIG). The
 * sockets and compat files live in a directory of their own under
 * /dev/shm, removed at exit (on SIGINT and SIGTERM too), as are the
 * writers' BPF pins.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "bench_figures.h"
#include "bench_procs.h"
#include "mmsync.h"

#define PAYLOAD 36
#define GRACE_NS 1000000000ull
#define PAUSE_NS 200000ull		/* before each publish: the reader asleep */
#define HERD_PAUSE_NS 1000000ull	/* 50 readers to put to sleep on one CPU */
#define HUNG_NS 5000000000ull		/* a reader not back by then is not coming */
#define WARMUP 3			/* rounds not counted: first reads, caches */
#define COST_ROUNDS 7
#define COST_WRITES 20000
#define MAX_KIDS 256
#define NSLOTS 8			/* methods measured side by side */

enum how { BUSY, WAIT, FD, FUTEX, EVENTFD, IDLE };

/* What a reader child does. */
struct job {
	enum how how;
	const char *what;	/* the method's name */
	bool compat;
	const char *where;	/* socket path or compat prefix */
	unsigned flags;		/* struct mmsync_reader_opts.flags */
	int rounds;		/* counted; WARMUP before, one more after */
	unsigned slot;		/* its method's place in struct shared */
	unsigned nreaders, idx;	/* lat[] has nreaders entries a round */
	int fd;			/* EVENTFD: the eventfd; IDLE: a pipe to wait on */
};

/* In a MAP_SHARED mapping, between the writer and its readers; per method
 * (slot) but the raw words, of which one method each makes use. */
struct shared {
	_Atomic uint64_t ready[NSLOTS];	/* each reader adds 1 before it sleeps for a round */
	_Atomic uint64_t t0[NSLOTS];	/* CLOCK_MONOTONIC when the round was published */
	_Atomic uint64_t spurious[NSLOTS]; /* wake-ups that found no new version */
	_Atomic uint32_t word;		/* raw futex: the round */
	_Atomic uint64_t round;		/* eventfd: the round */
	uint64_t lat[];			/* t1 - t0, [slot][counted round][reader] */
};

static struct shared *sh;
static size_t sh_size, stride;	/* stride: lat[] entries a slot */
static pid_t kids[MAX_KIDS], parent;
static const char *kid_what[MAX_KIDS];
static unsigned nkids;
static char dir[64];
static char paths[64][128];	/* what to remove at exit */
static unsigned npaths;
static char pin_dirs[16][96];	/* a writer that did not close leaves its BPF pins */
static unsigned npins;
static cpu_set_t writer_cpu, reader_cpus;
static bool pinned;
static int hold_w = -1;		/* the write end of the IDLE readers' pipe */

/* Kills the children and removes the directory: at exit, on a signal, on
 * failure. Only async-signal-safe calls. */
static void cleanup(void)
{
	if (getpid() != parent)
		return;
	for (unsigned i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	for (unsigned i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	nkids = 0;
	for (unsigned i = 0; i < npaths; i++)
		unlink(paths[i]);
	for (unsigned i = 0; i < npins; i++)
		rmdir(pin_dirs[i]);
	if (dir[0])
		rmdir(dir);
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

static const char *add_path(const char *name)
{
	if (npaths == sizeof(paths) / sizeof(paths[0]))
		abort();
	char *p = paths[npaths++];
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

/* The pins a native writer @name may leave (mmsync_native_opts.flags,
 * MMSYNC_KEEP_PINS): removed at exit, should it not close. */
static void add_pins(const char *name)
{
	if (npins == sizeof(pin_dirs) / sizeof(pin_dirs[0]) ||
	    npaths + 2 > sizeof(paths) / sizeof(paths[0]))
		abort();
	snprintf(pin_dirs[npins], sizeof(pin_dirs[0]), "/sys/fs/bpf/mmsync/%s", name);
	snprintf(paths[npaths++], sizeof(paths[0]), "%s/state", pin_dirs[npins]);
	snprintf(paths[npaths++], sizeof(paths[0]), "%s/metrics", pin_dirs[npins]);
	npins++;
}

/* Where each child sleeps, for a report of a hang. */
static void show_kids(void)
{
	for (unsigned i = 0; i < nkids; i++) {
		char path[64], wchan[64] = "?";
		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)kids[i]);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(wchan, sizeof(wchan), f))
				strcpy(wchan, "?");
			fclose(f);
		}
		fprintf(stderr, "  reader %d (%s) sleeps in %s\n", (int)kids[i], kid_what[i], wchan);
	}
}

/* One line in one write: the writer's and its readers' do not mix. */
static void say(const char *who, const char *fmt, va_list ap)
{
	bench_say("mmsync-bench-wake", who, fmt, ap);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	va_start(ap, fmt);
	say("", fmt, ap);
	va_end(ap);
	exit(1); /* cleanup() kills the children */
}

static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(const struct job *j, const char *fmt, ...)
{
	char who[64];
	va_list ap;
	snprintf(who, sizeof(who), "reader %u of slot %u (%d): ", j->idx, j->slot, (int)getpid());
	va_start(ap, fmt);
	say(who, fmt, ap);
	va_end(ap);
	_exit(1);
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

/* ---- the readers ---- */

/* Reads the current version. Return: true with its round and the time it
 * was seen if it is new since the last read, false if not. */
static bool read_new(const struct job *j, struct mmsync_reader *r, uint64_t *round, uint64_t *t1)
{
	struct mmsync_view v;
	int err = mmsync_read_begin(r, &v);
	if (err)
		child_fail(j, "mmsync_read_begin: %s", mmsync_strerror(err));
	bool fresh = v.switched;
	if (fresh) {
		if (v.len != PAYLOAD)
			child_fail(j, "read %zu bytes, %d expected", v.len, PAYLOAD);
		memcpy(round, v.data, sizeof(*round));
		*t1 = now_ns();
	}
	if ((err = mmsync_read_end(r, &v)))
		child_fail(j, "mmsync_read_end: %s", mmsync_strerror(err));
	return fresh;
}

static void epoll_once(const struct job *j, int ep)
{
	struct epoll_event ev;
	int n;
	while ((n = epoll_wait(ep, &ev, 1, -1)) < 0 && errno == EINTR)
		;
	if (n < 0)
		child_fail(j, "epoll_wait: %s", strerror(errno));
}

static int epoll_of(const struct job *j, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		child_fail(j, "epoll: %s", strerror(errno));
	return ep;
}

/* Sleeps until round @i is signalled, the raw way. Return: when it saw it. */
static uint64_t raw_round(const struct job *j, int ep, uint64_t i)
{
	if (j->how == FUTEX) {
		uint32_t v;
		while ((v = atomic_load(&sh->word)) != (uint32_t)i) {
			if (v != (uint32_t)(i - 1))
				child_fail(j, "round %u seen, %llu expected", v, (unsigned long long)i);
			if (futex(&sh->word, FUTEX_WAIT, v) && errno != EAGAIN && errno != EINTR)
				child_fail(j, "FUTEX_WAIT: %s", strerror(errno));
		}
		return now_ns();
	}
	uint64_t n;
	epoll_once(j, ep);
	if (read(j->fd, &n, sizeof(n)) != sizeof(n))
		child_fail(j, "read of the eventfd: %s", strerror(errno));
	uint64_t t1 = now_ns(), seen = atomic_load(&sh->round);
	if (seen != i)
		child_fail(j, "round %llu seen, %llu expected", (unsigned long long)seen,
			   (unsigned long long)i);
	return t1;
}

/* Sleeps (or spins) until round @i is published and reads it. Return: when
 * it was seen. */
static uint64_t mmsync_round(const struct job *j, struct mmsync_reader *r, int ep, uint64_t i)
{
	uint64_t round = 0, t1 = 0;
	int err;

	for (;;) {
		if (j->how == WAIT && (err = mmsync_wait(r, UINT64_MAX)))
			child_fail(j, "mmsync_wait: %s", mmsync_strerror(err));
		if (j->how == FD)
			epoll_once(j, ep);
		if (read_new(j, r, &round, &t1))
			break;
		if (j->how != BUSY)
			atomic_fetch_add(&sh->spurious[j->slot], 1);
	}
	if (round != i)
		child_fail(j, "round %llu read, %llu expected", (unsigned long long)round,
			   (unsigned long long)i);
	return t1;
}

static void reader_main(const struct job *j)
{
	struct mmsync_reader *r = NULL;
	uint64_t round = 0, t1 = 0;
	int ep = -1, err;
	bool raw = j->how == FUTEX || j->how == EVENTFD;

	if (j->how == EVENTFD)
		ep = epoll_of(j, j->fd);
	if (!raw) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .flags = j->flags);
		err = j->compat ? mmsync_reader_open(&r, j->where, &o) :
				  mmsync_reader_connect(&r, j->where, &o);
		if (err)
			child_fail(j, "%s: %s", j->where, mmsync_strerror(err));
		if (j->how == FD) {
			int fd = mmsync_reader_fd(r);
			if (fd < 0)
				child_fail(j, "mmsync_reader_fd: %s", mmsync_strerror(fd));
			ep = epoll_of(j, fd);
		}
		/* Round 0, published before the readers came. */
		if (!read_new(j, r, &round, &t1) || round != 0)
			child_fail(j, "round 0 not there");
	}
	if (j->how == IDLE) {
		atomic_fetch_add(&sh->ready[j->slot], 1);
		char c;
		while (read(j->fd, &c, 1) < 0 && errno == EINTR)
			; /* until the writer closes the pipe */
		mmsync_reader_close(r);
		_exit(0);
	}

	/* The last round only lets the readers go: those that leave first
	 * would take the CPU from those still waking. */
	uint64_t last = WARMUP + (uint64_t)j->rounds + 1;
	uint64_t *lat = &sh->lat[j->slot * stride];
	for (uint64_t i = 1; i <= last; i++) {
		atomic_fetch_add(&sh->ready[j->slot], 1);
		t1 = raw ? raw_round(j, ep, i) : mmsync_round(j, r, ep, i);
		if (i > WARMUP && i < last)
			lat[(i - WARMUP - 1) * j->nreaders + j->idx] = t1 - atomic_load(&sh->t0[j->slot]);
	}
	mmsync_reader_close(r);
	_exit(0);
}

static void spawn(const struct job *j)
{
	if (nkids == MAX_KIDS)
		fail("too many readers");
	pid_t pid = bench_fork(parent);
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (hold_w >= 0)
			close(hold_w);
		if (pinned) {
			cpu_set_t one;
			CPU_ZERO(&one);
			/* Lone readers (one awake at a time): the first CPU
			 * but the writer's; many: all of those. */
			if (j->nreaders == 1 && j->how != IDLE) {
				for (int c = 0; c < CPU_SETSIZE; c++)
					if (CPU_ISSET(c, &reader_cpus)) {
						CPU_SET(c, &one);
						break;
					}
			} else {
				one = reader_cpus;
			}
			sched_setaffinity(0, sizeof(one), &one);
		}
		reader_main(j);
	}
	kid_what[nkids] = j->what;
	kids[nkids++] = pid;
}

/* ---- the writer's side ---- */

static void forget_kid(pid_t pid)
{
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			kid_what[i] = kid_what[nkids];
			return;
		}
}

/* A child that has exited: reaped; fails the run unless it exited 0 (a
 * reader does once its last round is read, while those of other methods
 * may still be at theirs). */
static bool reap_one(void)
{
	int st;
	pid_t pid = waitpid(-1, &st, WNOHANG);
	if (pid <= 0)
		return false;
	forget_kid(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("reader %d %s %d", (int)pid, WIFEXITED(st) ? "exited with status" : "killed by signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return true;
}

static void reap_all(const char *what)
{
	uint64_t start = now_ns();
	while (nkids) {
		if (!reap_one())
			pause_ns(100000);
		if (nkids && now_ns() - start > HUNG_NS) {
			show_kids();
			fail("%s: %u readers still there 5 s after the last round", what, nkids);
		}
	}
}

/* Until the readers of @slot have said @target times that they are ready. */
static void await_ready(unsigned slot, uint64_t target, const char *what, uint64_t round)
{
	uint64_t start = 0;
	for (unsigned spins = 0; atomic_load(&sh->ready[slot]) < target; spins++) {
		if (spins < 4096) {
			spin_pause();
			continue;
		}
		if (!start)
			start = now_ns();
		reap_one();
		pause_ns(20000);
		if (now_ns() - start > HUNG_NS) {
			fprintf(stderr, "mmsync-bench-wake: %s: ready %llu times of %llu, 5 s after "
					"round %llu was published: a wake-up lost?\n",
				what, (unsigned long long)atomic_load(&sh->ready[slot]),
				(unsigned long long)target, (unsigned long long)round - 1);
			show_kids();
			fail("%s: hung", what);
		}
	}
}

static void payload(unsigned char buf[PAYLOAD], uint64_t round)
{
	memset(buf, 0xa5, PAYLOAD);
	memcpy(buf, &round, sizeof(round));
}

static void publish(struct mmsync_writer *w, uint64_t round)
{
	unsigned char buf[PAYLOAD];
	payload(buf, round);
	int err = mmsync_write(w, buf, PAYLOAD, GRACE_NS, NULL);
	if (err)
		fail("mmsync_write: %s", mmsync_strerror(err));
}

static struct mmsync_writer *native_writer(const char *sock, unsigned max_readers)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = max_readers);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	const char *name = run_name("wake");
	add_pins(name);
	int err = mmsync_writer_create(&w, name, &o);
	if (err)
		fail("mmsync_writer_create: %s", mmsync_strerror(err));
	if ((err = mmsync_writer_listen(w, sock, &lo)))
		fail("mmsync_writer_listen %s: %s", sock, mmsync_strerror(err));
	publish(w, 0);
	return w;
}

static struct mmsync_writer *compat_writer(const char *prefix, unsigned flags)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_writer_opts, o, .flags = flags);
	char name[32];
	for (int i = 0; i < 3; i++) {
		static const char *const sfx[] = { "_state", "_data_0", "_data_1" };
		snprintf(name, sizeof(name), "%.16s%s", strrchr(prefix, '/') + 1, sfx[i]);
		add_path(name);
	}
	int err = mmsync_writer_open(&w, prefix, &o);
	if (err)
		fail("mmsync_writer_open %s: %s", prefix, mmsync_strerror(err));
	publish(w, 0);
	return w;
}

/* p-th percentile (nearest rank) of @n sorted values. */
static double pct(const double *s, size_t n, unsigned p)
{
	size_t k = (n * p + 99) / 100;
	return s[k ? k - 1 : 0];
}

struct lat {
	double p50, p99, max;	/* µs */
};

/* Sorts @us in place. */
static struct lat summarize_lat(double *us, size_t n)
{
	qsort(us, n, sizeof(*us), cmp_double);
	return (struct lat){ pct(us, n, 50), pct(us, n, 99), us[n - 1] };
}

/* One method measured: its readers, its writer, its figures. */
struct method {
	const char *name, *key;
	enum how how;
	bool compat;
	unsigned flags;		/* compat: the writer's; native: the reader's */
	int rounds;
	unsigned nreaders;
	uint64_t pause_ns;
	/* while it runs */
	unsigned slot;
	struct mmsync_writer *w;
	int efd;
	/* results */
	struct lat lat;
	uint64_t spurious;
};

static void method_start(struct method *m, unsigned slot)
{
	static unsigned k;
	struct job j = { .how = m->how, .what = m->name, .compat = m->compat, .flags = m->flags,
			 .rounds = m->rounds, .slot = slot, .nreaders = m->nreaders, .fd = -1 };
	char name[32];

	m->slot = slot;
	m->w = NULL;
	m->efd = -1;
	if (m->how == EVENTFD) {
		if ((m->efd = j.fd = eventfd(0, EFD_CLOEXEC)) < 0)
			fail("eventfd: %s", strerror(errno));
	} else if (m->compat) {
		snprintf(name, sizeof(name), "c%u", k++);
		j.where = add_path(name);
		m->w = compat_writer(j.where, m->flags);
		j.flags = 0;
	} else if (m->how != FUTEX) {
		snprintf(name, sizeof(name), "w%u.sock", k++);
		j.where = add_path(name);
		m->w = native_writer(j.where, m->nreaders < 64 ? 64 : m->nreaders);
	}
	for (unsigned i = 0; i < m->nreaders; i++) {
		j.idx = i;
		spawn(&j);
	}
}

/* Round @i: once the readers sleep, t0 and the publish. */
static void method_fire(struct method *m, uint64_t i)
{
	await_ready(m->slot, i * m->nreaders, m->name, i);
	pause_ns(m->pause_ns);
	atomic_store(&sh->t0[m->slot], now_ns());
	if (m->how == FUTEX) {
		atomic_store(&sh->word, (uint32_t)i);
		futex(&sh->word, FUTEX_WAKE, INT_MAX);
	} else if (m->how == EVENTFD) {
		uint64_t one = 1;
		atomic_store(&sh->round, i);
		if (write(m->efd, &one, sizeof(one)) != sizeof(one))
			fail("write of the eventfd: %s", strerror(errno));
	} else {
		publish(m->w, i);
	}
}

static void method_finish(struct method *m)
{
	mmsync_writer_close(m->w);
	if (m->efd >= 0)
		close(m->efd);
	m->spurious = atomic_load(&sh->spurious[m->slot]);
	if (m->nreaders > 1)
		return; /* run_herd() reads lat[] */
	double *us = malloc(sizeof(double) * (size_t)m->rounds);
	if (!us)
		fail("out of memory");
	for (int i = 0; i < m->rounds; i++)
		us[i] = (double)sh->lat[m->slot * stride + (size_t)i] / 1e3;
	m->lat = summarize_lat(us, (size_t)m->rounds);
	free(us);
}

/* Methods of as many rounds, taken in turn round after round: the drift of
 * a noisy machine falls on all of them alike. */
static void run_methods(struct method *ms, unsigned n)
{
	memset(sh, 0, sh_size);
	for (unsigned s = 0; s < n; s++)
		method_start(&ms[s], s);
	uint64_t last = WARMUP + (uint64_t)ms[0].rounds + 1;
	for (uint64_t i = 1; i <= last; i++)
		for (unsigned s = 0; s < n; s++)
			method_fire(&ms[s], i);
	reap_all(ms[0].name);
	for (unsigned s = 0; s < n; s++)
		method_finish(&ms[s]);
}

/* ---- what a publish costs ---- */

static double ns_per_write(struct mmsync_writer *w, uint64_t *round)
{
	unsigned char buf[PAYLOAD];
	payload(buf, 0);
	uint64_t t = now_ns();
	for (int i = 0; i < COST_WRITES; i++) {
		++*round;
		memcpy(buf, round, sizeof(*round));
		int err = mmsync_write(w, buf, PAYLOAD, GRACE_NS, NULL);
		if (err)
			fail("mmsync_write: %s", mmsync_strerror(err));
	}
	return (double)(now_ns() - t) / COST_WRITES;
}

static double ns_per_futex_wake(void)
{
	uint64_t t = now_ns();
	for (int i = 0; i < COST_WRITES; i++)
		futex(&sh->word, FUTEX_WAKE, INT_MAX);
	return (double)(now_ns() - t) / COST_WRITES;
}

struct wstat {
	uint64_t seq, futex_wakes, wake_msgs, membarriers;
};

/* The writer's figures, through a reader of this process's own. */
static struct wstat stat_of(const char *sock)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int err = mmsync_reader_connect(&r, sock, NULL);
	if (err || (err = mmsync_reader_stat(r, &st)))
		fail("stat of %s: %s", sock, mmsync_strerror(err));
	mmsync_reader_close(r);
	return (struct wstat){ st.seq, st.futex_wakes, st.wake_msgs, st.membarriers };
}

struct costs {
	struct fig native[3];	/* no reader; fenced reader; default reader */
	struct wstat stat[3];
	struct fig futex_wake, compat[2]; /* compat: without, with MMSYNC_WAKE_WAITERS */
};

static void run_costs(struct costs *c)
{
	static const unsigned rflags[3] = { 0, MMSYNC_FENCED, 0 };
	struct mmsync_writer *w[3], *cw[2];
	const char *sock[3];
	double ns[3][COST_ROUNDS], fns[COST_ROUNDS], cns[2][COST_ROUNDS];
	uint64_t round[3] = { 0, 0, 0 }, cround[2] = { 0, 0 };
	int pfd[2];

	memset(sh, 0, sh_size);
	if (pipe2(pfd, O_CLOEXEC))
		fail("pipe: %s", strerror(errno));
	hold_w = pfd[1];
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cost%d.sock", i);
		sock[i] = add_path(name);
		w[i] = native_writer(sock[i], 64);
		if (i) {
			struct job j = { .how = IDLE, .what = "idle", .where = sock[i], .flags = rflags[i],
					 .nreaders = 1, .idx = (unsigned)i, .fd = pfd[0] };
			spawn(&j);
		}
	}
	close(pfd[0]);
	await_ready(0, 2, "publish cost", 0);
	cw[0] = compat_writer(add_path("cost_plain"), 0);
	cw[1] = compat_writer(add_path("cost_wake"), MMSYNC_WAKE_WAITERS);

	/* Round after round, each kind in turn: the machine's drift falls on all. */
	for (int k = 0; k < COST_ROUNDS; k++) {
		for (int i = 0; i < 3; i++)
			ns[i][k] = ns_per_write(w[i], &round[i]);
		fns[k] = ns_per_futex_wake();
		for (int i = 0; i < 2; i++)
			cns[i][k] = ns_per_write(cw[i], &cround[i]);
	}
	close(hold_w); /* the idle readers leave */
	hold_w = -1;
	reap_all("publish cost");
	for (int i = 0; i < 3; i++) {
		c->native[i] = summarize(ns[i], COST_ROUNDS);
		c->stat[i] = stat_of(sock[i]);
		mmsync_writer_close(w[i]);
	}
	c->futex_wake = summarize(fns, COST_ROUNDS);
	for (int i = 0; i < 2; i++) {
		c->compat[i] = summarize(cns[i], COST_ROUNDS);
		mmsync_writer_close(cw[i]);
	}
}

/* ---- many sleepers ---- */

struct herd {
	unsigned readers;
	int rounds;
	struct lat first, last;	/* publish to the first, and the last, reader awake */
};

static void run_herd(struct herd *h)
{
	struct method m = { .name = "herd", .key = "herd", .how = WAIT, .rounds = h->rounds,
			    .nreaders = h->readers, .pause_ns = HERD_PAUSE_NS };
	run_methods(&m, 1);

	double first[h->rounds], last[h->rounds];
	for (int i = 0; i < h->rounds; i++) {
		const uint64_t *l = &sh->lat[(size_t)i * h->readers];
		uint64_t lo = UINT64_MAX, hi = 0;
		for (unsigned k = 0; k < h->readers; k++) {
			lo = l[k] < lo ? l[k] : lo;
			hi = l[k] > hi ? l[k] : hi;
		}
		first[i] = (double)lo / 1e3;
		last[i] = (double)hi / 1e3;
	}
	h->first = summarize_lat(first, (size_t)h->rounds);
	h->last = summarize_lat(last, (size_t)h->rounds);
}

/* ---- set-up and report ---- */

/* The writer on the first CPU allowed, the readers on the others. */
static void pin(void)
{
	int ncpus, first = bench_pin(&writer_cpu, &reader_cpus, &ncpus);
	if (first < 0)
		return;
	pinned = true;
	int rc = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &reader_cpus)) {
			rc = c;
			break;
		}
	printf("%d CPUs: writer pinned to CPU %d, readers to CPU %d%s\n", ncpus, first, rc,
	       CPU_COUNT(&reader_cpus) > 1 ? " (a herd: to every CPU but the writer's)" : "");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "herd", required_argument, NULL, 'h' },
		{ "json", required_argument, NULL, 'j' },
		{ 0 },
	};
	int rounds = 2000, herd_readers = 50, c;
	const char *json = NULL;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'h': herd_readers = atoi(optarg); break;
		case 'j': json = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--rounds N] [--herd N] [--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 1000000 || herd_readers < 1 || herd_readers > 200) {
		fprintf(stderr, "%s: --rounds from 1 to 1000000, --herd from 1 to 200\n", argv[0]);
		return 2;
	}
	FILE *j = json ? fopen(json, "w") : NULL;
	if (json && !j) {
		perror(json);
		return 1;
	}

	parent = getpid();
	if (bench_scratch(dir, "/dev/shm/mmsync-bench-wake-XXXXXX", cleanup, on_signal))
		return 1;

	int herd_rounds = rounds < 50 ? rounds : 50, slow_rounds = rounds < 100 ? rounds : 100;
	stride = (size_t)rounds;
	if ((size_t)herd_rounds * (size_t)herd_readers > stride)
		stride = (size_t)herd_rounds * (size_t)herd_readers;
	sh_size = sizeof(*sh) + NSLOTS * stride * sizeof(sh->lat[0]);
	sh = mmap(NULL, sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fail("mmap: %s", strerror(errno));

	printf("mmsync-bench-wake: publish to seen between processes, %d-byte payloads, the writer "
	       "pausing %llu µs before each publish\n", PAYLOAD, PAUSE_NS / 1000);
	pin();

	enum { BUSY_POLL, WAIT_NATIVE, WAIT_FENCED, READER_FD, RAW_FUTEX, RAW_EVENTFD, WAIT_COMPAT,
	       WAIT_COMPAT_SLOW, N_METHODS };
#define M(NAME, KEY, HOW, COMPAT, FLAGS, ROUNDS)                                                 \
	{ .name = NAME, .key = KEY, .how = HOW, .compat = COMPAT, .flags = FLAGS, .rounds = ROUNDS, \
	  .nreaders = 1, .pause_ns = PAUSE_NS }
	struct method ms[N_METHODS] = {
		M("busy poll (read_begin/end)", "busy_poll", BUSY, false, 0, rounds),
		M("mmsync_wait(), native", "wait_native", WAIT, false, 0, rounds),
		M("mmsync_wait(), native, fenced", "wait_native_fenced", WAIT, false, MMSYNC_FENCED, rounds),
		M("reader fd + epoll_wait()", "reader_fd", FD, false, 0, rounds),
		M("raw futex wait/wake", "raw_futex", FUTEX, false, 0, rounds),
		M("raw eventfd + epoll_wait()", "raw_eventfd_epoll", EVENTFD, false, 0, rounds),
		M("mmsync_wait(), compat, WAKE_WAITERS", "wait_compat_wake", WAIT, true,
		  MMSYNC_WAKE_WAITERS, rounds),
		M("mmsync_wait(), compat, no wake", "wait_compat_nowake", WAIT, true, 0, slow_rounds),
	};
#undef M

	/* The spinner would take the sleepers' CPU, and the compat reader
	 * without wakes has rounds of 10 ms: each on its own. The sleepers
	 * take turns, one round each. */
	run_methods(&ms[BUSY_POLL], 1);
	run_methods(&ms[WAIT_NATIVE], WAIT_COMPAT - WAIT_NATIVE + 1);
	run_methods(&ms[WAIT_COMPAT_SLOW], 1);

	printf("\n%-36s %7s %9s %9s %9s %9s\n", "latency, µs", "rounds", "p50", "p99", "max",
	       "spurious");
	for (int i = 0; i < N_METHODS; i++)
		printf("%-36s %7d %9.2f %9.2f %9.1f %9llu\n", ms[i].name, ms[i].rounds, ms[i].lat.p50,
		       ms[i].lat.p99, ms[i].lat.max, (unsigned long long)ms[i].spurious);
	printf("%-36s p50 %.2f, p99 %.2f\n", "mmsync_wait() / raw futex:",
	       ms[WAIT_NATIVE].lat.p50 / ms[RAW_FUTEX].lat.p50,
	       ms[WAIT_NATIVE].lat.p99 / ms[RAW_FUTEX].lat.p99);
	printf("%-36s p50 %.2f, p99 %.2f\n", "reader fd / raw eventfd + epoll:",
	       ms[READER_FD].lat.p50 / ms[RAW_EVENTFD].lat.p50,
	       ms[READER_FD].lat.p99 / ms[RAW_EVENTFD].lat.p99);

	struct costs co;
	run_costs(&co);
	static const char *const cname[3] = {
		"native, no reader", "native, fenced reader, not waiting",
		"native, default reader, not waiting",
	};
	printf("\n%-36s %9s %9s %9s %9s   (ns a write of %d bytes, median of %d x %d)\n", "publish cost",
	       "ns", "min", "max", "+ns", PAYLOAD, COST_ROUNDS, COST_WRITES);
	bool woke = false;
	for (int i = 0; i < 3; i++) {
		printf("%-36s %9.0f %9.0f %9.0f %9.0f   futex_wakes %llu, wake_msgs %llu, membarriers "
		       "%llu, seq %llu\n", cname[i], co.native[i].med, co.native[i].min, co.native[i].max,
		       co.native[i].med - co.native[0].med, (unsigned long long)co.stat[i].futex_wakes,
		       (unsigned long long)co.stat[i].wake_msgs, (unsigned long long)co.stat[i].membarriers,
		       (unsigned long long)co.stat[i].seq);
		woke |= co.stat[i].futex_wakes || co.stat[i].wake_msgs;
	}
	printf("%-36s %9.0f %9.0f %9.0f\n", "bare FUTEX_WAKE, no waiter", co.futex_wake.med,
	       co.futex_wake.min, co.futex_wake.max);
	printf("%-36s %9.0f %9.0f %9.0f\n", "compat write", co.compat[0].med, co.compat[0].min,
	       co.compat[0].max);
	printf("%-36s %9.0f %9.0f %9.0f %9.0f   x%.2f\n", "compat write, WAKE_WAITERS",
	       co.compat[1].med, co.compat[1].min, co.compat[1].max, co.compat[1].med - co.compat[0].med,
	       co.compat[1].med / co.compat[0].med);

	struct herd h = { .readers = (unsigned)herd_readers, .rounds = herd_rounds };
	run_herd(&h);
	printf("\n%u readers in mmsync_wait(), %d rounds, pausing %llu µs: publish to the first awake "
	       "p50 %.1f µs, p99 %.1f µs; to the last p50 %.1f µs, p99 %.1f µs, max %.1f µs\n",
	       h.readers, h.rounds, HERD_PAUSE_NS / 1000, h.first.p50, h.first.p99, h.last.p50,
	       h.last.p99, h.last.max);

	if (j) {
		fprintf(j, "{\"cpus\": %ld, \"pinned\": %s, \"payload\": %d, \"pause_ns\": %llu, \"latency_us\": [",
			sysconf(_SC_NPROCESSORS_ONLN), pinned ? "true" : "false", PAYLOAD, PAUSE_NS);
		for (int i = 0; i < N_METHODS; i++)
			fprintf(j, "%s{\"method\": \"%s\", \"rounds\": %d, \"p50\": %.3f, \"p99\": %.3f, "
				   "\"max\": %.3f, \"spurious\": %llu}", i ? ", " : "", ms[i].key,
				ms[i].rounds, ms[i].lat.p50, ms[i].lat.p99, ms[i].lat.max,
				(unsigned long long)ms[i].spurious);
		fprintf(j, "], \"publish_ns\": {");
		static const char *const ckey[3] = { "native_no_reader", "native_fenced_reader",
						     "native_default_reader" };
		for (int i = 0; i < 3; i++) {
			json_fig(j, ckey[i], co.native[i]);
			fprintf(j, ", ");
		}
		json_fig(j, "futex_wake", co.futex_wake);
		fprintf(j, ", ");
		json_fig(j, "compat", co.compat[0]);
		fprintf(j, ", ");
		json_fig(j, "compat_wake_waiters", co.compat[1]);
		fprintf(j, "}, \"no_waiter_wakes\": [");
		for (int i = 0; i < 3; i++)
			fprintf(j, "%s{\"futex_wakes\": %llu, \"wake_msgs\": %llu}", i ? ", " : "",
				(unsigned long long)co.stat[i].futex_wakes,
				(unsigned long long)co.stat[i].wake_msgs);
		fprintf(j, "], \"herd\": {\"readers\": %u, \"rounds\": %d, \"first_p50\": %.3f, "
			   "\"first_p99\": %.3f, \"last_p50\": %.3f, \"last_p99\": %.3f, "
			   "\"last_max\": %.3f}}\n", h.readers, h.rounds, h.first.p50, h.first.p99,
			h.last.p50, h.last.p99, h.last.max);
		fclose(j);
	}
	if (woke) {
		fprintf(stderr, "mmsync-bench-wake: a publish with no reader waiting woke someone\n");
		return 1;
	}
	return 0;
}
