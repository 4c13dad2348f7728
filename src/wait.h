/* SPDX-License-Identifier: MIT */
/* How the library waits for others: the clock it reads and the pause of a
 * spin, shared by the compat and native writers and the native reader. */
#ifndef MMSYNC_WAIT_H
#define MMSYNC_WAIT_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One step of a spin: lets the sibling hyperthread (or the other guest
 * vCPU) run. Where there is no such hint, nothing. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
