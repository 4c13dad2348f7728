/* SPDX-License-Identifier: MIT */
/* mmsync-bench-write's part 5: three ways to copy 64 MiB (memcpy, 4 MiB
 * pieces each after a prefetch of the next, two threads): what the write's
 * copy could be. */
#include <pthread.h>
#include <string.h>

#include "write.h"

/* ---- 5. three ways to copy 64 MiB ---- */

#define PIECE (4 * MiB)

/* Each 4 MiB piece is copied after a prefetch of every line of the next. */
static void copy_prefetch(char *dst, const char *src, size_t len)
{
	for (size_t off = 0; off < len; off += PIECE) {
		size_t n = len - off < PIECE ? len - off : PIECE;
		size_t next = off + n, nn = len - next < PIECE ? len - next : PIECE;
		for (size_t k = 0; k < nn; k += 64)
			__builtin_prefetch(src + next + k, 0, 3);
		memcpy(dst + off, src + off, n);
	}
}

struct half {
	char *dst;
	const char *src;
	size_t len;
};

static void *copy_half(void *arg)
{
	struct half *h = arg;
	memcpy(h->dst, h->src, h->len);
	return NULL;
}

/* The second half on a new thread, the first here. The thread's creation
 * (tens of microseconds) is counted: a writer would pay it too, or keep a
 * thread waiting, which costs a wake-up of the same order. */
static void copy_threads(char *dst, const char *src, size_t len)
{
	size_t a = len / 2;
	struct half h = { dst + a, src + a, len - a };
	pthread_t t;
	if (pthread_create(&t, NULL, copy_half, &h))
		die("pthread_create failed");
	memcpy(dst, src, a);
	pthread_join(t, NULL);
}

/* On the first @len bytes of the run's (prefaulted) source and destination. */
void bench_copies(const char *src, char *dst, size_t len, int rounds)
{
	double v[3][rounds];

	for (int i = 0; i < rounds + 1; i++)
		for (int j = 0; j < 3; j++) {
			int m = (j + i) % 3; /* rotate the order */
			uint64_t t0 = now_ns();
			if (m == 0)
				memcpy(dst, src, len);
			else if (m == 1)
				copy_prefetch(dst, src, len);
			else
				copy_threads(dst, src, len);
			clobber();
			if (i > 0) /* round 0 warms up */
				v[m][i - 1] = (double)len / (double)(now_ns() - t0);
		}
	R.cp_memcpy = summarize(v[0], rounds);
	R.cp_prefetch = summarize(v[1], rounds);
	R.cp_threads = summarize(v[2], rounds);
	R.cp_rounds = rounds;
}
