/* SPDX-License-Identifier: MIT */
/* Progress of a long operation (a large put, serve's publish of a large
 * file) on standard error, when it is a terminal: one line rewritten in
 * place, at most ten times a second, erased at the end. Nothing otherwise:
 * logs and pipes get no carriage returns. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Below this, an operation takes too little time to be worth a line. */
#define PROGRESS_MIN_BYTES (16u << 20)

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void progress_begin(struct progress *p, const char *what, uint64_t total)
{
	*p = (struct progress){ .what = what, .total = total,
				.on = total >= PROGRESS_MIN_BYTES && isatty(2) };
	progress_update(p, 0);
}

void progress_update(struct progress *p, uint64_t done)
{
	if (!p->on)
		return;
	uint64_t now = mono_ns();
	if (done && done < p->total && now - p->last_ns < 100000000u)
		return;
	p->last_ns = now;
	fprintf(stderr, "\rmmsync: %s: %" PRIu64 " / %" PRIu64 " MiB (%u%%)\033[K", p->what,
		done >> 20, p->total >> 20, (unsigned)(p->total ? done * 100 / p->total : 100));
}

void progress_end(struct progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
	p->on = false;
}
