/* SPDX-License-Identifier: MIT */
/* The parent's side of mmsync-bench-suite: commands to the children and their
 * answers, the parts of the run (a: reads; c: writes beside memcpy; b and d:
 * reads/s and the writer's latency), the summaries, and the machine's load. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "suite.h"

const uint64_t write_sizes[N_SIZES] = { PAYLOAD, 4 * KiB, 1 * MiB, 64 * MiB };

bool unavailable[NK];
char unavailable_why[NK][256];

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

int run_cmd(int k, int role, uint32_t cmd, uint64_t size, uint64_t n, uint64_t ns)
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

void open_role(int k, int role)
{
	if (unavailable[k])
		return;
	if (run_cmd(k, role, CMD_OPEN, 0, 0, 0) == ERR_UNAVAILABLE)
		drop(k, S->ctl[k][role].msg);
}

/* The run's figures: per round first, summarized for the report. */
struct run_figures F;

/* ---- other load ---- */

/* CPU time the machine spent busy, from /proc/stat (all CPUs). With the
 * run's own CPU time (getrusage) it tells how much other processes took:
 * on 2 CPUs a build next to the run halves figure b and makes d's tails. */
double machine_busy_s(void)
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

double own_cpu_s(void)
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
void part_a(uint64_t round_ns)
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

/* The baseline's buffers, prefaulted: 0, or -1 if there is no memory. */
int memcpy_baseline_alloc(void)
{
	if (!(msrc = alloc_prefaulted(MAX_PAYLOAD, 0x5a)) || !(mdst = alloc_prefaulted(2 * MAX_PAYLOAD, 0)))
		return -1;
	return 0;
}

void part_c(uint64_t round_ns)
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

void sleep_ns(uint64_t ns)
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

void part_bd(void)
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

void summarize_all(void)
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
