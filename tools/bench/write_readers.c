/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-write-readers: what each connected reader costs a native
 * write. The writer looks at every reader's slot at each write (the waits
 * of the last publish, the figures, the note: src/native_slots.c), and a
 * socket reader's slot is a page of its own.
 *
 *   mmsync-bench-write-readers [--rounds N] [--writes N] [--readers LIST]
 *                              [--hold N] [--json FILE]
 *
 * ns per mmsync_write() of 36 bytes, native, median (min, max) of N rounds
 * (default 7) of --writes writes (default 20000), with LIST connected idle
 * readers (default 0,1,10,100,1000), and the slope between points: ns a
 * write per reader; and from how many readers on the slots cost a write
 * more than the rest of it (the write with none, over the slope from the
 * first count to the last). Then, with --hold readers (default 100; 0:
 * none), each with its ns a write per reader over its baseline:
 *   in step, idle     after each write the readers' process says it saw
 *                     it, and the next write comes only then: the
 *                     baseline of the next line
 *   in step, reading  ... after each write every reader ends its view and
 *                     begins one of the version just published: each write
 *                     finds every slot arrived on the current copy, its
 *                     line last written by the other CPU
 *   holding           each reader begins one view and never ends it: the
 *                     warm-up's writes (grace 0) evict them, and the
 *                     writes after pass over them
 * Idle and holding: the CPU time of the writer's thread (a shared machine's
 * other work takes its CPU at times; the share it kept is printed). In
 * step: the median write, each timed on its own, less a clock read.
 *
 * Readers are fenced (MMSYNC_FENCED): the writer issues no membarrier.
 * Every writer has max_readers slots for the largest set (the slots
 * scanned are those of connected readers), serves them from its service
 * thread (MMSYNC_LISTEN_SERVE) and runs with BPF off: the mirror costs a
 * write the same with any number of readers. All writers live side by
 * side, and the rounds take them in turn, so that a noisy machine's drift
 * falls on all alike. The writer (and its service threads) are pinned to
 * the first CPU allowed, the readers to the others.
 *
 * Readers live in child processes of up to 100 readers each, which die
 * with this process (PR_SET_PDEATHSIG). Each socket reader costs the
 * writer two descriptors and its process three: RLIMIT_NOFILE is raised
 * to its hard limit on both sides. Any failure ends the run (exit status
 * 1), and so does a measured write that evicted a reader or a set whose
 * live slots at the end are not its readers. No wait is unbounded: 5 s
 * for an acknowledgement, 2 min for a set's readers to connect. The
 * sockets live in a directory of their own under /dev/shm, removed at
 * exit (on SIGINT and SIGTERM too).
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "bench_figures.h"
#include "bench_procs.h"
#include "mmsync.h"

#define PAYLOAD 36
#define GRACE_NS 1000000000ull
#define PER_CHILD 100			/* readers a child process connects */
#define MAX_SETS 16
#define MAX_KIDS 256
#define WARMUP_WRITES 2000		/* per set, before the rounds */
#define HUNG_NS 5000000000ull		/* an acknowledgement later than this is not coming */
#define CONNECT_NS 120000000000ull	/* a set's readers all connected by then */
#define SPIN_NS 200000ull		/* a child in step spins this long, then sleeps */

enum kind { IDLE, STEP_IDLE, STEP_READ, HOLD };

static const char *const kind_name[] = {
	[IDLE] = "idle", [STEP_IDLE] = "in step, idle", [STEP_READ] = "in step, reading",
	[HOLD] = "holding one view",
};

/* Per set, between the writer and its readers' processes (MAP_SHARED),
 * each word on a line of its own. */
struct sync {
	_Atomic uint64_t connected __attribute__((aligned(64))); /* readers set up */
	_Atomic uint32_t go __attribute__((aligned(64)));	/* writes published in step; UINT32_MAX: leave */
	_Atomic uint64_t want_seq;	/* the seq of write `go` */
	_Atomic uint32_t asleep;	/* a child waits on `go` with FUTEX_WAIT */
	_Atomic uint32_t ack __attribute__((aligned(64)));	/* writes the child has seen */
};

struct set {
	enum kind kind;
	unsigned nreaders;
	char sock[128];
	struct mmsync_writer *w;
	struct sync *sy;
	double ns[100];		/* per round */
	struct fig f;
	uint64_t evicted;	/* by the measured writes: must stay 0 */
	uint64_t warm_evicted;	/* by the warm-up */
	uint32_t live;		/* live slots at the end, the stat reader's not counted */
	uint64_t n;		/* writes so far: the payload's first bytes */
};

static struct set sets[MAX_SETS];
static unsigned nsets;
static struct sync *shm;
static pid_t kids[MAX_KIDS], parent;
static unsigned nkids;
static char dir[64];
static cpu_set_t writer_cpu, reader_cpus;
static bool pinned;
static int hold_w = -1;		/* the idle and holding readers leave when it closes */

/* Kills the children and removes the sockets: at exit, on a signal, on
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
	for (unsigned i = 0; i < nsets; i++)
		unlink(sets[i].sock);
	if (dir[0])
		rmdir(dir);
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

static void say(const char *who, const char *fmt, va_list ap)
{
	bench_say("mmsync-bench-write-readers", who, fmt, ap);
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

static void __attribute__((noreturn, format(printf, 1, 2))) child_fail(const char *fmt, ...)
{
	char who[64];
	va_list ap;
	snprintf(who, sizeof(who), "reader process %d: ", (int)getpid());
	va_start(ap, fmt);
	say(who, fmt, ap);
	va_end(ap);
	_exit(1);
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* Socket readers cost descriptors: as many as the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- the readers ---- */

/* In step: waits for write @seen + 1 (or the word to leave). */
static uint32_t await_go(struct sync *sy, uint32_t seen)
{
	uint64_t since = 0;
	for (unsigned spins = 0;; spins++) {
		uint32_t g = atomic_load_explicit(&sy->go, memory_order_acquire);
		if (g != seen)
			return g;
		if (spins % 1024)
			spin_pause();
		else if (!since)
			since = now_ns();
		else if (now_ns() - since > SPIN_NS) {
			/* Other sets are measured: sleep, and leave their CPU alone. */
			struct timespec ts = { 1, 0 };
			atomic_store(&sy->asleep, 1);
			if (atomic_load(&sy->go) == seen)
				futex(&sy->go, FUTEX_WAIT, seen, &ts);
			atomic_store(&sy->asleep, 0);
			since = 0;
		}
	}
}

static void reader_main(struct set *s, unsigned first, unsigned n, int hold_r)
{
	struct mmsync_reader *r[PER_CHILD];
	struct mmsync_view v[PER_CHILD];
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = MMSYNC_FENCED);
	int err;

	for (unsigned i = 0; i < n; i++) {
		if ((err = mmsync_reader_connect(&r[i], s->sock, &o)))
			child_fail("reader %u of %s: %s", first + i, s->sock, mmsync_strerror(err));
		/* One read, or the view held (HOLD), of the version published
		 * before the readers came. */
		if ((err = mmsync_read_begin(r[i], &v[i])))
			child_fail("mmsync_read_begin: %s", mmsync_strerror(err));
		if (v[i].len != PAYLOAD)
			child_fail("read %zu bytes, %d expected", v[i].len, PAYLOAD);
		if (s->kind != HOLD && (err = mmsync_read_end(r[i], &v[i])))
			child_fail("mmsync_read_end: %s", mmsync_strerror(err));
	}
	atomic_fetch_add(&s->sy->connected, n);

	if (s->kind == IDLE || s->kind == HOLD) {
		char c;
		while (read(hold_r, &c, 1) < 0 && errno == EINTR)
			; /* until the writer closes the pipe, or dies */
		_exit(0);
	}

	/* In step: one child, all the set's readers. */
	uint32_t seen = 0;
	for (;;) {
		uint32_t g = await_go(s->sy, seen);
		if (g == UINT32_MAX)
			_exit(0);
		if (s->kind == STEP_READ) {
			uint64_t want = atomic_load(&s->sy->want_seq);
			for (unsigned i = 0; i < n; i++) {
				if (seen && (err = mmsync_read_end(r[i], &v[i])))
					child_fail("mmsync_read_end: %s", mmsync_strerror(err));
				if ((err = mmsync_read_begin(r[i], &v[i])))
					child_fail("mmsync_read_begin: %s", mmsync_strerror(err));
				if (v[i].seq != want)
					child_fail("read seq %llu, %llu expected", (unsigned long long)v[i].seq,
						   (unsigned long long)want);
			}
		}
		seen = g;
		atomic_store_explicit(&s->sy->ack, g, memory_order_release);
	}
}

static void spawn(struct set *s, unsigned first, unsigned n, int hold_r)
{
	if (nkids == MAX_KIDS)
		fail("too many reader processes");
	pid_t pid = bench_fork(parent);
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(hold_w);
		if (pinned)
			sched_setaffinity(0, sizeof(reader_cpus), &reader_cpus);
		raise_nofile();
		reader_main(s, first, n, hold_r);
	}
	kids[nkids++] = pid;
}

/* ---- the writer's side ---- */

static bool reap_one(void)
{
	int st;
	pid_t pid = waitpid(-1, &st, WNOHANG);
	if (pid <= 0)
		return false;
	for (unsigned i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			break;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("reader process %d %s %d", (int)pid,
		     WIFEXITED(st) ? "exited with status" : "killed by signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return true;
}

static void write_one(struct set *s, uint64_t grace_ns, struct mmsync_write_info *info)
{
	unsigned char buf[PAYLOAD];
	memset(buf, 0xa5, sizeof(buf));
	s->n++;
	memcpy(buf, &s->n, sizeof(s->n));
	int err = mmsync_write(s->w, buf, PAYLOAD, grace_ns, info);
	if (err)
		fail("mmsync_write (%u readers, %s): %s", s->nreaders, kind_name[s->kind],
		     mmsync_strerror(err));
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time on the CPU and in all, over the rounds: the other work of a shared
 * machine takes the writer's CPU at times. */
static uint64_t on_cpu_ns, wall_ns;

/* @n writes in a row. Return: ns of this thread's CPU time a write (the
 * time other processes held its CPU is not the write's). */
static double run_batch(struct set *s, unsigned n)
{
	struct mmsync_write_info info;
	uint64_t t = now_ns(), c = cpu_ns();
	for (unsigned i = 0; i < n; i++) {
		write_one(s, GRACE_NS, &info);
		s->evicted += info.evicted;
	}
	c = cpu_ns() - c;
	on_cpu_ns += c;
	wall_ns += now_ns() - t;
	return (double)c / n;
}

/* What now_ns() adds to an interval it measures. */
static double clock_cost(unsigned n)
{
	uint64_t t = now_ns();
	for (unsigned i = 0; i < n; i++) {
		volatile uint64_t x = now_ns();
		(void)x;
	}
	return (double)(now_ns() - t) / n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* @n writes, each once the readers' process has seen the one before.
 * Return: the median write's ns, less @clock ns (a median: a write the
 * other work of the machine preempted says nothing of the slots). */
static double run_step(struct set *s, unsigned n, double clock)
{
	struct mmsync_write_info info;
	struct sync *sy = s->sy;
	uint64_t *ns = malloc(n * sizeof(*ns));
	if (!ns)
		fail("out of memory");
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		write_one(s, GRACE_NS, &info);
		ns[i] = now_ns() - t0;
		s->evicted += info.evicted;

		uint32_t g = atomic_load(&sy->go) + 1;
		if (g == UINT32_MAX)
			fail("too many writes in step");
		atomic_store(&sy->want_seq, info.seq);
		atomic_store(&sy->go, g);
		if (atomic_load(&sy->asleep))
			futex(&sy->go, FUTEX_WAKE, INT_MAX, NULL);
		uint64_t start = 0;
		for (unsigned spins = 0; atomic_load_explicit(&sy->ack, memory_order_acquire) != g; spins++) {
			if (spins % 4096) {
				spin_pause();
				continue;
			}
			if (!start)
				start = now_ns();
			reap_one();
			if (now_ns() - start > HUNG_NS)
				fail("%s: write %u not seen by the readers 5 s after it", kind_name[s->kind], g);
		}
	}
	qsort(ns, n, sizeof(*ns), cmp_u64);
	double med = (double)ns[n / 2] - clock;
	free(ns);
	return med;
}

static void set_add(enum kind kind, unsigned nreaders)
{
	if (nsets == MAX_SETS)
		fail("too many sets");
	struct set *s = &sets[nsets];
	*s = (struct set){ .kind = kind, .nreaders = nreaders, .sy = &shm[nsets] };
	snprintf(s->sock, sizeof(s->sock), "%s/w%u.sock", dir, nsets);
	nsets++;
}

static void set_start(struct set *s, unsigned max_readers, int hold_r)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096, .max_readers = max_readers,
		    .flags = MMSYNC_BPF_OFF);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	char name[64];
	snprintf(name, sizeof(name), "rdrs-%d-%u", (int)getpid(), (unsigned)(s - sets));
	int err = mmsync_writer_create(&s->w, name, &o);
	if (err)
		fail("mmsync_writer_create: %s", mmsync_strerror(err));
	if ((err = mmsync_writer_listen(s->w, s->sock, &lo)))
		fail("mmsync_writer_listen %s: %s", s->sock, mmsync_strerror(err));
	write_one(s, GRACE_NS, NULL);
	/* In step, one process holds them all: the writer waits for one
	 * acknowledgement a write. */
	unsigned per = s->kind == STEP_IDLE || s->kind == STEP_READ ? s->nreaders : PER_CHILD;
	for (unsigned first = 0; first < s->nreaders; first += per)
		spawn(s, first, s->nreaders - first < per ? s->nreaders - first : per, hold_r);
}

static void await_connected(struct set *s)
{
	uint64_t start = now_ns();
	while (atomic_load(&s->sy->connected) < s->nreaders) {
		reap_one();
		pause_ns(1000000);
		if (now_ns() - start > CONNECT_NS)
			fail("%u readers of %u connected after %llu s", (unsigned)atomic_load(&s->sy->connected),
			     s->nreaders, CONNECT_NS / 1000000000ull);
	}
}

/* Live slots, through a reader of this process's own (not counted): the
 * write after it connects counts it, whenever the service thread last did. */
static uint32_t live_of(struct set *s)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int err = mmsync_reader_connect(&r, s->sock, NULL);
	if (!err)
		write_one(s, GRACE_NS, NULL);
	if (err || (err = mmsync_reader_stat(r, &st)))
		fail("stat of %s: %s", s->sock, mmsync_strerror(err));
	mmsync_reader_close(r);
	return st.live_slots;
}

static void finish(void)
{
	for (unsigned i = 0; i < nsets; i++)
		if (sets[i].kind == STEP_IDLE || sets[i].kind == STEP_READ) {
			atomic_store(&sets[i].sy->go, UINT32_MAX);
			futex(&sets[i].sy->go, FUTEX_WAKE, INT_MAX, NULL);
		}
	close(hold_w);
	hold_w = -1;
	uint64_t start = now_ns();
	while (nkids) {
		if (!reap_one())
			pause_ns(1000000);
		if (nkids && now_ns() - start > HUNG_NS)
			fail("%u reader processes still there 5 s after they were let go", nkids);
	}
	for (unsigned i = 0; i < nsets; i++)
		mmsync_writer_close(sets[i].w);
}

/* The writer on the first CPU allowed, the readers on the others. */
static void pin(void)
{
	int ncpus, first = bench_pin(&writer_cpu, &reader_cpus, &ncpus);
	if (first < 0)
		return;
	pinned = true;
	printf("%d CPUs: writer pinned to CPU %d, readers to the %d others\n", ncpus, first,
	       CPU_COUNT(&reader_cpus));
}

static bool parse_list(const char *list, unsigned *out, unsigned *n)
{
	*n = 0;
	for (const char *p = list; *p;) {
		char *e;
		unsigned long v = strtoul(p, &e, 10);
		if (e == p || v > 4095 || *n == MAX_SETS - 3 || (*e && *e != ','))
			return false;
		if (*n && v <= out[*n - 1])
			return false; /* rising: the slopes are between neighbours */
		out[(*n)++] = (unsigned)v;
		p = *e ? e + 1 : e;
	}
	return *n > 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "writes", required_argument, NULL, 'w' },
		{ "readers", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'h' },
		{ "json", required_argument, NULL, 'j' },
		{ 0 },
	};
	int rounds = 7, writes = 20000, hold = 100, c;
	unsigned counts[MAX_SETS], ncounts;
	const char *json = NULL, *list = "0,1,10,100,1000";

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'w': writes = atoi(optarg); break;
		case 'n': list = optarg; break;
		case 'h': hold = atoi(optarg); break;
		case 'j': json = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--rounds N] [--writes N] [--readers LIST] [--hold N] "
					"[--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 100 || writes < 1 || writes > 10000000 || hold < 0 ||
	    hold > PER_CHILD || !parse_list(list, counts, &ncounts)) {
		fprintf(stderr, "%s: --rounds from 1 to 100, --writes from 1 to 10^7, --hold from 0 to "
				"%d, --readers a rising list of counts up to 4095\n", argv[0], PER_CHILD);
		return 2;
	}
	FILE *j = json ? fopen(json, "w") : NULL;
	if (json && !j) {
		perror(json);
		return 1;
	}

	parent = getpid();
	if (bench_scratch(dir, "/dev/shm/mmsync-bench-readers-XXXXXX", cleanup, on_signal))
		return 1;
	raise_nofile();
	shm = mmap(NULL, MAX_SETS * sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (shm == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		fail("pipe: %s", strerror(errno));
	hold_w = pfd[1];

	printf("mmsync-bench-write-readers: ns per native mmsync_write() of %d bytes, fenced readers, "
	       "median of %d rounds of %d writes\n", PAYLOAD, rounds, writes);
	pin();

	for (unsigned i = 0; i < ncounts; i++)
		set_add(IDLE, counts[i]);
	if (hold) {
		set_add(STEP_IDLE, (unsigned)hold);
		set_add(STEP_READ, (unsigned)hold);
		set_add(HOLD, (unsigned)hold);
	}
	unsigned max_readers = counts[ncounts - 1] > (unsigned)hold ? counts[ncounts - 1] : (unsigned)hold;
	max_readers++; /* and the reader that reads the figures at the end */
	if (max_readers < 64)
		max_readers = 64;
	uint64_t t = now_ns();
	for (unsigned i = 0; i < nsets; i++)
		set_start(&sets[i], max_readers, pfd[0]);
	close(pfd[0]);
	for (unsigned i = 0; i < nsets; i++)
		await_connected(&sets[i]);
	unsigned total = 0;
	for (unsigned i = 0; i < nsets; i++)
		total += sets[i].nreaders;
	printf("%u readers connected to %u writers in %.1f s\n", total, nsets,
	       (double)(now_ns() - t) / 1e9);
	fflush(stdout);

	/* Warm-up: readers adopted into the slots, caches filled; the holding
	 * readers evicted (grace 0), once each. */
	for (unsigned i = 0; i < nsets; i++) {
		struct set *s = &sets[i];
		struct mmsync_write_info info;
		if (s->kind == HOLD)
			for (int k = 0; k < 4; k++) {
				write_one(s, 0, &info);
				s->warm_evicted += info.evicted;
			}
		if (s->kind == IDLE || s->kind == HOLD)
			run_batch(s, WARMUP_WRITES);
		else
			run_step(s, WARMUP_WRITES, 0);
		s->evicted = 0;
	}
	on_cpu_ns = wall_ns = 0;

	double clocks[100];
	for (int r = 0; r < rounds; r++) {
		clocks[r] = clock_cost(writes);
		for (unsigned i = 0; i < nsets; i++) {
			struct set *s = &sets[i];
			s->ns[r] = s->kind == IDLE || s->kind == HOLD ? run_batch(s, (unsigned)writes) :
									 run_step(s, (unsigned)writes, clocks[r]);
		}
	}
	struct fig clock = summarize(clocks, rounds);
	for (unsigned i = 0; i < nsets; i++) {
		sets[i].f = summarize(sets[i].ns, rounds);
		sets[i].live = live_of(&sets[i]) - 1;
	}
	finish();

	printf("\n%-30s %9s %9s %9s %12s\n", "readers", "ns/write", "min", "max", "ns/reader");
	for (unsigned i = 0; i < ncounts; i++) {
		struct set *s = &sets[i];
		char slope[32] = "";
		if (i)
			snprintf(slope, sizeof(slope), "%.2f", (s->f.med - sets[i - 1].f.med) /
								       (s->nreaders - sets[i - 1].nreaders));
		printf("%-30u %9.1f %9.1f %9.1f %12s\n", s->nreaders, s->f.med, s->f.min, s->f.max, slope);
	}
	struct set *lo_s = &sets[0], *hi_s = &sets[ncounts - 1];
	double slope = ncounts > 1 ? (hi_s->f.med - lo_s->f.med) / (hi_s->nreaders - lo_s->nreaders) : 0;
	if (ncounts > 1) {
		printf("%u to %u readers: %.2f ns a write per reader", lo_s->nreaders, hi_s->nreaders, slope);
		if (slope > 0)
			printf("; the readers cost a write more than the rest of it from %.0f readers on",
			       lo_s->f.med / slope);
		printf("\n");
	}
	/* Each of the others against its baseline: in step idle for in step
	 * reading, the idle readers of the same count for holding. */
	for (unsigned i = ncounts; i < nsets; i++) {
		struct set *s = &sets[i], *base = NULL;
		for (unsigned k = 0; k < nsets; k++)
			if (sets[k].nreaders == s->nreaders &&
			    ((s->kind == STEP_READ && sets[k].kind == STEP_IDLE) ||
			     (s->kind == HOLD && sets[k].kind == IDLE)))
				base = &sets[k];
		char what[64], plus[64] = "";
		snprintf(what, sizeof(what), "%u, %s", s->nreaders, kind_name[s->kind]);
		if (base)
			snprintf(plus, sizeof(plus), "%+.2f vs %s", (s->f.med - base->f.med) / s->nreaders,
				 kind_name[base->kind]);
		printf("%-30s %9.1f %9.1f %9.1f   %s\n", what, s->f.med, s->f.min, s->f.max, plus);
	}
	printf("idle and holding: the writer thread's CPU time a write; it held its CPU %.0f %% of "
	       "those rounds\n", wall_ns ? 100.0 * (double)on_cpu_ns / (double)wall_ns : 0.0);
	if (hold)
		printf("in step: the median write, less %.1f ns for the clock, while the readers' process "
		       "spins on the other CPU; holding: %llu evictions in the warm-up\n", clock.med,
		       (unsigned long long)sets[nsets - 1].warm_evicted);

	int rc = 0;
	for (unsigned i = 0; i < nsets; i++) {
		struct set *s = &sets[i];
		if (s->evicted || s->live != s->nreaders) {
			fprintf(stderr, "mmsync-bench-write-readers: %u readers %s: %llu evicted, %u live slots "
					"at the end\n", s->nreaders, kind_name[s->kind],
				(unsigned long long)s->evicted, s->live);
			rc = 1;
		}
	}
	if (j) {
		fprintf(j, "{\"cpus\": %ld, \"pinned\": %s, \"payload\": %d, \"rounds\": %d, \"writes\": %d, "
			   "\"clock_ns\": %.2f, \"slope_ns_per_reader\": %.3f, \"sets\": [",
			sysconf(_SC_NPROCESSORS_ONLN), pinned ? "true" : "false", PAYLOAD, rounds, writes,
			clock.med, slope);
		for (unsigned i = 0; i < nsets; i++) {
			fprintf(j, "%s{\"readers\": %u, \"kind\": \"%s\", ", i ? ", " : "", sets[i].nreaders,
				kind_name[sets[i].kind]);
			json_fig(j, "ns_per_write", sets[i].f);
			fprintf(j, "}");
		}
		fprintf(j, "]}\n");
		fclose(j);
	}
	return rc;
}
