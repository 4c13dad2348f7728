/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench: the cost of one read (begin+end) and one write of a small
 * payload on each layout, as medians over rounds, in one run. Figures, not
 * assertions: tests never time.
 *
 *   mmsync-bench [--size BYTES] [--rounds N] [--ops N] [--dir DIR] [--serve] [--json]
 *
 * compat: files in DIR (default /dev/shm). native: memfd copies, the reader
 * connected over an abstract socket from the same process, fenceless (the
 * default: each write pays a membarrier) and fenced. --serve: the native
 * writers serve from the library's thread (MMSYNC_LISTEN_SERVE), which then
 * runs beside the writes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_figures.h"
#include "mmsync.h"





static void die(const char *what, int err)
{
	fprintf(stderr, "mmsync-bench: %s: %s\n", what, mmsync_strerror(err));
	exit(1);
}

struct result {
	struct fig read, write;
};

/* Reads (begin, touch a byte, end) and writes in alternating rounds; the
 * figure of a round is its mean, the result the median over rounds. */
static struct result measure(struct mmsync_writer *w, struct mmsync_reader *r, const char *payload,
			     size_t size, int rounds, long ops)
{
	double *read_ns = calloc((size_t)rounds, sizeof(double));
	double *write_ns = calloc((size_t)rounds, sizeof(double));
	long wops = ops / 20 > 0 ? ops / 20 : 1; /* writes cost more: fewer per round */
	volatile unsigned char sink = 0;
	struct mmsync_view v;
	int err;

	if (!read_ns || !write_ns)
		die("rounds", -ENOMEM);
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
			if ((err = mmsync_read_begin(r, &v)))
				die("read_begin", err);
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
	struct result res = { summarize(read_ns, rounds), summarize(write_ns, rounds) };
	free(read_ns);
	free(write_ns);
	return res;
}

/* A reader connected to @w's socket; the writer serves it from here while
 * a thread connects. */
struct connector {
	const char *sock;
	unsigned flags;
	struct mmsync_reader *r;
	int err;
	volatile int done;
};

static void *connect_thread(void *arg)
{
	struct connector *c = arg;
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = c->flags);
	c->err = mmsync_reader_connect(&c->r, c->sock, &o);
	c->done = 1;
	return NULL;
}

static int connect_native(struct mmsync_writer *w, const char *sock, unsigned flags, bool serve,
			  struct mmsync_reader **r)
{
	if (serve) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .flags = flags);
		return mmsync_reader_connect(r, sock, &o);
	}
	struct connector c = { .sock = sock, .flags = flags };
	pthread_t t;
	if (pthread_create(&t, NULL, connect_thread, &c))
		return -EAGAIN;
	while (!c.done)
		mmsync_writer_dispatch(w);
	pthread_join(t, NULL);
	*r = c.r;
	return c.err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "serve", no_argument, NULL, 'S' },
		{ 0 },
	};
	size_t size = 36;
	int rounds = 21, json = 0;
	bool serve = false;
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
		case 'S': serve = true; break;
		default:
			fprintf(stderr, "usage: mmsync-bench [--size BYTES] [--rounds N] [--ops N] [--dir DIR] "
					"[--serve] [--json]\n");
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

	enum { NL = 3 };
	struct result res[NL];
	int err;
	for (int layout = 0; layout < NL; layout++) {
		struct mmsync_writer *w;
		struct mmsync_reader *r;
		char sock[64];
		if (layout == 0) {
			if ((err = mmsync_writer_open(&w, prefix, NULL)))
				die(prefix, err);
			if ((err = mmsync_reader_open(&r, prefix, NULL)))
				die(prefix, err);
		} else {
			MMSYNC_OPTS(mmsync_native_opts, o, .capacity = size > 4096 ? size : 4096);
			MMSYNC_OPTS(mmsync_listen_opts, so, .flags = serve ? MMSYNC_LISTEN_SERVE : 0);
			snprintf(sock, sizeof(sock), "@mmsync-bench-%d", (int)getpid());
			if ((err = mmsync_writer_create(&w, run_name("bench"), &o)) ||
			    (err = mmsync_writer_listen(w, sock, &so)))
				die("native writer", err);
			/* connect from a thread so that the handshake's dispatch can run here */
			err = connect_native(w, sock, layout == 2 ? MMSYNC_FENCED : 0, serve, &r);
			if (err)
				die("native reader", err);
		}
		res[layout] = measure(w, r, payload, size, rounds, ops);
		mmsync_reader_close(r);
		mmsync_writer_close(w);
	}

	static const char *const names[] = { "compat", "native", "native_fenced" };
	if (json) {
		printf("{\"payload_bytes\": %zu, \"rounds\": %d", size, rounds);
		for (int l = 0; l < NL; l++)
			printf(", \"%s\": {\"read_ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f},"
			       " \"write_ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}}",
			       names[l], res[l].read.med, res[l].read.min, res[l].read.max,
			       res[l].write.med, res[l].write.min, res[l].write.max);
		printf("}\n");
	} else {
		printf("%-14s %8s %10s %14s %18s\n", "layout", "bytes", "op", "median ns", "min..max ns");
		for (int l = 0; l < NL; l++) {
			printf("%-14s %8zu %10s %14.1f %8.1f..%-8.1f\n", names[l], size, "read b+e",
			       res[l].read.med, res[l].read.min, res[l].read.max);
			printf("%-14s %8zu %10s %14.1f %8.1f..%-8.1f\n", names[l], size, "write",
			       res[l].write.med, res[l].write.min, res[l].write.max);
		}
		for (int l = 1; l < NL; l++)
			printf("%s/compat: read %.2f, write %.2f\n", names[l],
			       res[l].read.med / res[0].read.med, res[l].write.med / res[0].write.med);
	}

	const char *suffix[] = { "_state", "_data_0", "_data_1" };
	for (int i = 0; i < 3; i++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s%s", prefix, suffix[i]);
		unlink(path);
	}
	free(payload);
	return 0;
}
