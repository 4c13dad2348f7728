/* SPDX-License-Identifier: MIT */
/* What the benchmark programs share: a monotonic clock, the summary of a
 * figure over rounds (median, min, max) and how it is written, buffers,
 * and the progress lines. */
#ifndef MMSYNC_BENCH_FIGURES_H
#define MMSYNC_BENCH_FIGURES_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* "4 KiB", "64 MiB", "1 GiB", "36 B". */
static inline const char *size_str(uint64_t n, char buf[32])
{
	if (n >= GiB && n % GiB == 0)
		snprintf(buf, 32, "%" PRIu64 " GiB", n / GiB);
	else if (n >= MiB && n % MiB == 0)
		snprintf(buf, 32, "%" PRIu64 " MiB", n / MiB);
	else if (n >= KiB && n % KiB == 0)
		snprintf(buf, 32, "%" PRIu64 " KiB", n / KiB);
	else
		snprintf(buf, 32, "%" PRIu64 " B", n);
	return buf;
}

struct fig {
	double med, min, max;
};

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median, min and max of @n figures (the input is left as it was). */
static inline struct fig summarize(const double *v, int n)
{
	double s[n];
	memcpy(s, v, sizeof(s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return (struct fig){ n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1] };
}

static inline void json_fig(FILE *j, const char *name, struct fig f)
{
	fprintf(j, "\"%s\": {\"median\": %.4f, \"min\": %.4f, \"max\": %.4f}", name, f.med, f.min, f.max);
}

/* Keeps the compiler from dropping or merging the copies a loop times. */
static inline void clobber(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* @len bytes of anonymous memory, every page touched: NULL if none. */
static inline unsigned char *alloc_prefaulted(size_t len, int fill)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, fill, len);
	return p;
}

/* Progress on stdout: each part's name, then how long it took. */
static uint64_t part_t0;

static inline void part_begin(const char *what)
{
	printf("%s ... ", what);
	fflush(stdout);
	part_t0 = now_ns();
}

static inline void part_end(void)
{
	printf("%.1f s\n", (double)(now_ns() - part_t0) / 1e9);
}

/* A segment name of its own: two runs side by side (a developer's and a
 * test's), and two writers of one run, each hold their own BPF pins (a
 * name belongs to one live writer). */
static inline const char *run_name(const char *base)
{
	static char names[4][64];
	static unsigned k;
	char *n = names[k % 4];
	snprintf(n, 64, "%s-%d-%u", base, (int)getpid(), k);
	k++;
	return n;
}

#endif
