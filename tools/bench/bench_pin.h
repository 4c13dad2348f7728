/* SPDX-License-Identifier: MIT */
/* The writer on the first CPU this process may use, the readers on the
 * others: for the benchmarks that time a writer against reader processes
 * (wake_latency.c, write_readers.c). */
#ifndef MMSYNC_BENCH_PIN_H
#define MMSYNC_BENCH_PIN_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

/* Pins this process to the writer's CPU; call it before any writer
 * exists, so that their service threads inherit it. Return: the writer's
 * CPU with *ncpus the CPUs allowed, or -1 when nothing was pinned (one
 * CPU, or refused: said on standard output). */
static inline int bench_pin(cpu_set_t *writer, cpu_set_t *readers, int *ncpus)
{
	cpu_set_t all;
	int first = -1;

	CPU_ZERO(writer);
	CPU_ZERO(readers);
	if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2) {
		printf("1 CPU: writer and readers not pinned\n");
		return -1;
	}
	*ncpus = CPU_COUNT(&all);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &all))
			continue;
		if (first < 0) {
			first = c;
			CPU_SET(c, writer);
		} else {
			CPU_SET(c, readers);
		}
	}
	if (sched_setaffinity(0, sizeof(*writer), writer)) {
		printf("%d CPUs: not pinned (%s)\n", *ncpus, strerror(errno));
		return -1;
	}
	return first;
}

#endif
