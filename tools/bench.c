/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench: the cost of one read (begin+end) and one write of a small
 * payload, as medians over rounds. Figures, not assertions: tests never time.
 *
 *   mmsync-bench [--size BYTES] [--rounds N] [--ops N] [--dir DIR] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mmsync.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct figure {
	double median, min, max;
};

static struct figure summarize(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return (struct figure){ n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1] };
}

static void die(const char *what, int err)
{
	fprintf(stderr, "mmsync-bench: %s: %s\n", what, mmsync_strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	size_t size = 36;
	int rounds = 21, json = 0;
	long ops = 200000;
	const char *dir = "/dev/shm";
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'o': ops = atol(optarg); break;
		case 'd': dir = optarg; break;
		case 'j': json = 1; break;
		default:
			fprintf(stderr, "usage: mmsync-bench [--size BYTES] [--rounds N] [--ops N] [--dir DIR] [--json]\n");
			return 2;
		}
	}
	if (rounds < 1 || ops < 1) {
		fprintf(stderr, "mmsync-bench: --rounds and --ops must be positive\n");
		return 2;
	}

	char prefix[4096];
	snprintf(prefix, sizeof(prefix), "%s/mmsync-bench-%d", dir, (int)getpid());
	char *payload = malloc(size ? size : 1);
	if (!payload)
		die("payload", -ENOMEM);
	memset(payload, 'x', size);

	struct mmsync_writer *w;
	struct mmsync_reader *r;
	struct mmsync_view v;
	int err;
	if ((err = mmsync_writer_open(&w, prefix, NULL)))
		die(prefix, err);
	if ((err = mmsync_reader_open(&r, prefix, NULL)))
		die(prefix, err);

	double *read_ns = calloc((size_t)rounds, sizeof(double));
	double *write_ns = calloc((size_t)rounds, sizeof(double));
	long wops = ops / 20 > 0 ? ops / 20 : 1; /* writes cost more: fewer per round */
	volatile unsigned char sink = 0;

	/* Warm-up: both copies written and mapped by the reader. */
	for (int i = 0; i < 4; i++) {
		if ((err = mmsync_write(w, payload, size, 1000000000ull, NULL)))
			die("write", err);
		if ((err = mmsync_read_begin(r, &v)))
			die("read_begin", err);
		mmsync_read_end(r, &v);
	}

	for (int round = 0; round < rounds; round++) {
		uint64_t t0 = now_ns();
		for (long i = 0; i < ops; i++) {
			if (mmsync_read_begin(r, &v))
				die("read_begin", -EIO);
			sink ^= ((const unsigned char *)v.data)[0];
			mmsync_read_end(r, &v);
		}
		uint64_t t1 = now_ns();
		for (long i = 0; i < wops; i++)
			if ((err = mmsync_write(w, payload, size, 1000000000ull, NULL)))
				die("write", err);
		uint64_t t2 = now_ns();
		read_ns[round] = (double)(t1 - t0) / (double)ops;
		write_ns[round] = (double)(t2 - t1) / (double)wops;
	}
	(void)sink;

	struct figure fr = summarize(read_ns, rounds), fw = summarize(write_ns, rounds);
	if (json) {
		printf("{\"layout\": \"compat\", \"payload_bytes\": %zu, \"rounds\": %d,"
		       " \"read_ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f},"
		       " \"write_ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}}\n",
		       size, rounds, fr.median, fr.min, fr.max, fw.median, fw.min, fw.max);
	} else {
		printf("%-8s %8s %14s %14s %14s\n", "layout", "bytes", "op", "median ns", "min..max ns");
		printf("%-8s %8zu %14s %14.1f %6.1f..%-7.1f\n", "compat", size, "read b+e", fr.median, fr.min, fr.max);
		printf("%-8s %8zu %14s %14.1f %6.1f..%-7.1f\n", "compat", size, "write", fw.median, fw.min, fw.max);
	}

	mmsync_reader_close(r);
	mmsync_writer_close(w);
	const char *suffix[] = { "_state", "_data_0", "_data_1" };
	for (int i = 0; i < 3; i++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s%s", prefix, suffix[i]);
		unlink(path);
	}
	free(payload);
	free(read_ns);
	free(write_ns);
	return 0;
}
