/* SPDX-License-Identifier: MIT */
/* What the benchmark programs share: a monotonic clock and the summary of
 * a figure over rounds (median, min, max). */
#ifndef MMSYNC_BENCH_FIGURES_H
#define MMSYNC_BENCH_FIGURES_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#endif
