/* SPDX-License-Identifier: MIT */
/* What the benchmarks that time a writer against reader processes share
 * (wake_latency.c, write_readers.c): the writer's CPU and the readers',
 * pauses, and one-line messages that processes writing at once do not mix. */
#ifndef MMSYNC_BENCH_PROCS_H
#define MMSYNC_BENCH_PROCS_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

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

/* One line on standard error in one write(2): "@prog: @who" and the rest. */
static inline void bench_say(const char *prog, const char *who, const char *fmt, va_list ap)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s: %s", prog, who);
	if (n >= 0 && (size_t)n < sizeof(line) - 1)
		n += vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	n = n < 0 ? 0 : n > (int)sizeof(line) - 2 ? (int)sizeof(line) - 2 : n;
	line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0)
		return; /* nowhere else to say it */
}

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline void pause_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The run's scratch directory, made from @templ (ending in XXXXXX) into
 * @dir, which @cleanup removes at exit and @on_signal on SIGINT or SIGTERM;
 * SIGPIPE ignored (a reader gone is a write's error, not the run's end).
 * Return: 0, or 1 with the error printed. */
static inline int bench_scratch(char *dir, const char *templ, void (*cleanup)(void),
				void (*on_signal)(int))
{
	strcpy(dir, templ);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* fork() for a reader process: buffered output flushed first (or the
 * child prints it again); the child dies with @parent, whatever step fails
 * there, and takes the default SIGINT and SIGTERM. Return: as fork(). */
static inline pid_t bench_fork(pid_t parent)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
	return pid;
}

#endif
