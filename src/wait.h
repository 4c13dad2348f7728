/* SPDX-License-Identifier: MIT */
/* How the library waits for others: the clock it reads, the pause of a
 * spin, and the futex readers sleep on (shared, not private: the word is
 * in memory other processes map), shared by the writers and readers. */
#ifndef MMSYNC_WAIT_H
#define MMSYNC_WAIT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

/* Sleeps while *@word holds @expected, at most @timeout_ns (relative, on
 * CLOCK_MONOTONIC). Return: 0 (woken, or a spurious return), -EAGAIN (the
 * word had changed), -ETIMEDOUT, -EINTR (a signal). A read-only mapping
 * will do. */
static inline int futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
	if (syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0) == 0)
		return 0;
	return -errno;
}

/* Wakes every process sleeping on @word. */
static inline void futex_wake_all(const uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The low half of a little-endian 64-bit word, for a futex on it. */
static inline const uint32_t *low_half(const void *word64)
{
	_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the low half comes first");
	return (const uint32_t *)word64;
}

#endif
