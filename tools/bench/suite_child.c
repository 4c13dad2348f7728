/* SPDX-License-Identifier: MIT */
/* One child process of mmsync-bench-suite: it waits on its mailbox, runs the
 * parent's commands on its contender (suite_contenders.c), times them and
 * answers; and how it reports a failure and ends. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/prctl.h>

#include "suite.h"

struct ctl *me;

/* Ends the child: handles closed, never exit(): the parent's atexit
 * handlers and stdio buffers were inherited and are not ours to run. */
void child_exit(int code)
{
	child_close();
	_exit(code);
}

void child_answer(void)
{
	atomic_store(&me->done, atomic_load(&me->seq));
	futex(&me->done, FUTEX_WAKE, INT32_MAX, NULL);
}

void cfail_(int kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(me->msg, sizeof(me->msg), fmt, ap);
	va_end(ap);
	me->err = kind;
	child_answer();
	child_exit(1);
}

/* -- the timed commands -- */

/* Operations a round of @target_ns takes: runs batches, doubling, until
 * one lasts a quarter of it (which warms caches and branch predictors). */
uint64_t calibrate(uint64_t target_ns, uint64_t max_n, void (*op)(uint64_t, uint64_t),
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

void child_main(enum kind k, enum role role)
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
