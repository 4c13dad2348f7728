/* SPDX-License-Identifier: MIT */
/* What the files of mmsync-bench-suite share: the contenders and the roles,
 * the control page through which the parent drives its children, the run's
 * figures, and the functions each file offers the others. */
#ifndef MMSYNC_BENCH_SUITE_H
#define MMSYNC_BENCH_SUITE_H

#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "bench_figures.h"
#include "config.h"
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

enum kind { K_FENCELESS, K_FENCED, K_COMPAT, K_LMDB, K_RWLOCK, K_SEQLOCK, NK };

struct kind_info {
	const char *name, *key;
};
extern const struct kind_info kinfo[NK];

enum role { WRITER, READER1, READER2, NROLES };
extern const char *const role_name[NROLES];

/* ---- plumbing ---- */

static inline long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the words live in a MAP_SHARED page that
	 * the parent and the children wait on together. */
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Set by SIGINT/SIGTERM in every process (suite_main.c). */
extern volatile sig_atomic_t got_signal;

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

struct shared {
	struct {
		_Atomic uint32_t v;
	} __attribute__((aligned(64))) stop; /* ends READ_FLAT and RATE; on a line of
					      * its own: readers load it all the time */
	struct ctl ctl[NK][NROLES];
};
extern struct shared *S;

/* Names of this run's objects (pid in each: runs do not meet). */
extern char compat_prefix[96], lmdb_path[96], lmdb_lock[104], shm_rw[64], shm_seq[64];
extern char native_name[2][64], native_sock[2][80];

/* ---- the children (suite_contenders.c, suite_child.c) ---- */

struct wctx {
	struct mmsync_writer *mw;
	int wfd;		/* native: mmsync_writer_fd(), polled while idle */
	unsigned char *region;	/* rwlock and seqlock: the mapped region */
	size_t region_len;
	unsigned char *src;	/* MAX_PAYLOAD bytes, prefaulted */
	uint64_t *lat;		/* RATE: one sample per write */
	size_t lat_cap;
};

struct rctx {
	struct mmsync_reader *mr;
	unsigned char *region;
	size_t region_len;
	unsigned char *buf;	/* seqlock: where reads copy to */
	uint64_t torn, stale;
};

extern struct ctl *me;		/* the child's mailbox */
extern enum kind my_kind;
extern struct wctx W;
extern struct rctx R;
extern bool is_writer, opened;

/* suite_contenders.c: each contender's open, write, read and close. */
void writer_open(void);
void reader_open(void);
void do_write(const void *src, size_t len);
void reads(uint64_t n);
void child_close(void);

/* suite_child.c: the child's mailbox, its commands and their timing. */
void child_exit(int code) __attribute__((noreturn));
void child_answer(void);
/* Reports what failed in the current command and ends the child. */
void cfail_(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn, cold));
#define cfail(...) cfail_(ERR_FATAL, __VA_ARGS__)
uint64_t calibrate(uint64_t target_ns, uint64_t max_n, void (*op)(uint64_t, uint64_t),
		   uint64_t arg);
void child_main(enum kind k, enum role role) __attribute__((noreturn));

/* suite_lmdb.c: the LMDB contender's open, write, reads and close. A build
 * without LMDB (meson -Dlmdb=disabled) has these stand-ins instead: its
 * children report the contender unavailable at open, and the run goes on
 * without it, as with any contender that cannot run. */
#if MMSYNC_HAVE_LMDB
void lmdb_writer_open(void);
void lmdb_write(const void *src, size_t len);
void lmdb_reader_open(void);
unsigned lmdb_reads(struct rctx *c, uint64_t n);
void lmdb_close(void);
#else
static inline void lmdb_writer_open(void)
{
	cfail_(ERR_UNAVAILABLE, "not built (meson -Dlmdb=disabled)");
}
static inline void lmdb_reader_open(void)
{
	lmdb_writer_open();
}
static inline void lmdb_write(const void *src, size_t len)
{
	(void)src;
	(void)len;
}
static inline unsigned lmdb_reads(struct rctx *c, uint64_t n)
{
	(void)c;
	(void)n;
	return 0;
}
static inline void lmdb_close(void)
{
}
#endif

/* ---- the parent ---- */

/* suite_main.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* suite_parts.c: driving the children, the parts of the run, other load. */
extern const uint64_t write_sizes[N_SIZES];
extern bool unavailable[NK];
extern char unavailable_why[NK][256];

/* The run's figures: per round first, summarized for the report. */
struct run_figures {
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
};
extern struct run_figures F;

int run_cmd(int k, int role, uint32_t cmd, uint64_t size, uint64_t n, uint64_t ns);
void open_role(int k, int role);
int memcpy_baseline_alloc(void);
void sleep_ns(uint64_t ns);
double machine_busy_s(void);
double own_cpu_s(void);
void part_a(uint64_t round_ns);
void part_c(uint64_t round_ns);
void part_bd(void);
void summarize_all(void);

/* suite_report.c: the targets, the tables and the JSON file. */
void make_targets(void);
void print_report(void);
void write_json(FILE *j);

#endif
