/* SPDX-License-Identifier: MIT */
/*
 * mmsync-soak: a native writer and four readers, for a given duration, with
 * readers and the writer SIGKILLed at random and payloads of random size.
 * Prints reads, writes, kills, torn reads (must be 0) and the writer's
 * longest stall (one mmsync_write()), also less the time the writer waited
 * for a CPU in it: on a loaded machine the difference is the scheduler's,
 * the rest the library's (its waits, copy and sleeps). Exit status 1 if any
 * read was torn.
 *
 *   mmsync-soak [--seconds N] [--max-bytes N] [--grace-ms N]
 *
 * Every payload is self-verifying: 8-byte words seq ^ (k * K) and an XXH64
 * trailer, so a read that mixes two versions cannot pass.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "mmsync.h"

#define READERS 4
#define K 0x9e3779b97f4a7c15ull

struct counters {
	_Atomic uint64_t reads, torn, stale, writes, writer_kills, reader_kills, max_stall_ns;
	_Atomic uint64_t max_own_ns;	/* a stall less the writer's CPU waits */
	_Atomic int stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time this thread waited for a CPU while runnable (schedstat), 0 if the
 * kernel does not say. */
static uint64_t run_delay_ns(void)
{
	char buf[128];
	unsigned long long on_cpu, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	if (f && (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%llu %llu", &on_cpu, &delay) != 2))
		delay = 0;
	if (f)
		fclose(f);
	return delay;
}

static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t body = len >= 16 ? len - 8 : len;
	for (size_t i = 0; i < body; i += 8) {
		uint64_t w = seq ^ ((i / 8 + len) * K);
		memcpy(p + i, &w, body - i < 8 ? body - i : 8);
	}
	if (len >= 16) {
		uint64_t h = XXH64(p, body, 0);
		memcpy(p + body, &h, 8);
	}
}

static bool whole(const uint8_t *p, size_t len)
{
	size_t body = len >= 16 ? len - 8 : len;
	uint64_t first = 0, seq;
	if (!len)
		return true;
	memcpy(&first, p, body < 8 ? body : 8);
	seq = first ^ (len * K);
	if (body < 8)
		seq &= (1ull << (8 * body)) - 1;
	for (size_t i = 0; i < body; i += 8) {
		uint64_t w = seq ^ ((i / 8 + len) * K);
		if (memcmp(p + i, &w, body - i < 8 ? body - i : 8))
			return false;
	}
	if (len >= 16) {
		uint64_t h = XXH64(p, body, 0), t;
		memcpy(&t, p + body, 8);
		return h == t;
	}
	return true;
}

static void writer(const char *sock, struct counters *c, size_t max, uint64_t grace_ns)
{
	struct mmsync_writer *w;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = max, .flags = MMSYNC_BPF_OFF);
	uint8_t *buf = malloc(max);
	unsigned seed = (unsigned)getpid();
	char name[64]; /* of this run: runs side by side keep their own BPF pins */
	snprintf(name, sizeof(name), "soak-%d", (int)getpid());
	if (!buf || mmsync_writer_create(&w, name, &o) || mmsync_writer_listen(w, sock, NULL))
		_exit(2);
	for (uint64_t seq = now_ns(); !atomic_load(&c->stop); seq++) {
		size_t len = (size_t)rand_r(&seed) % (rand_r(&seed) % 8 ? 65536 : max + 1);
		fill(buf, len, seq);
		uint64_t t0 = now_ns(), d0 = run_delay_ns();
		if (mmsync_write(w, buf, len, grace_ns, NULL))
			_exit(3);
		uint64_t dt = now_ns() - t0, waited = run_delay_ns() - d0;
		uint64_t own = waited < dt ? dt - waited : 0;
		if (dt > atomic_load(&c->max_stall_ns))
			atomic_store(&c->max_stall_ns, dt);
		if (own > atomic_load(&c->max_own_ns))
			atomic_store(&c->max_own_ns, own);
		atomic_fetch_add(&c->writes, 1);
		mmsync_writer_dispatch(w);
	}
	_exit(0);
}

static void reader(const char *sock, struct counters *c)
{
	struct mmsync_reader *r = NULL;
	while (!atomic_load(&c->stop)) {
		if (!r || mmsync_reader_check(r) == -EPIPE) { /* (re)connect to whoever serves */
			mmsync_reader_close(r);
			r = NULL;
			if (mmsync_reader_connect(&r, sock, NULL)) {
				usleep(1000);
				continue;
			}
		}
		for (int i = 0; i < 1000; i++) {
			struct mmsync_view v;
			if (mmsync_read_begin(r, &v))
				break;
			bool ok = whole(v.data, v.len);
			int err = mmsync_read_end(r, &v);
			if (err == -ESTALE) {
				atomic_fetch_add(&c->stale, 1);
				continue; /* told: what it read does not count */
			}
			atomic_fetch_add(&c->reads, 1);
			if (!ok)
				atomic_fetch_add(&c->torn, 1);
		}
	}
	mmsync_reader_close(r);
	_exit(0);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "grace-ms", required_argument, NULL, 'g' },
		{ 0 },
	};
	double seconds = 60;
	size_t max = 8u << 20;
	uint64_t grace_ns = 100 * 1000000ull;
	int opt;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 's': seconds = atof(optarg); break;
		case 'm': max = strtoull(optarg, NULL, 0); break;
		case 'g': grace_ns = strtoull(optarg, NULL, 0) * 1000000ull; break;
		default:
			fprintf(stderr, "usage: mmsync-soak [--seconds N] [--max-bytes N] [--grace-ms N]\n");
			return 2;
		}
	}
	if (seconds <= 0 || max < 16) {
		fprintf(stderr, "mmsync-soak: --seconds > 0 and --max-bytes >= 16\n");
		return 2;
	}

	struct counters *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return 1;
	char sock[64];
	snprintf(sock, sizeof(sock), "@mmsync-soak-%d", (int)getpid());
	signal(SIGPIPE, SIG_IGN);

	pid_t w = fork();
	if (w == 0)
		writer(sock, c, max, grace_ns);
	pid_t r[READERS];
	for (int i = 0; i < READERS; i++)
		if ((r[i] = fork()) == 0)
			reader(sock, c);

	unsigned seed = 1;
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	while (now_ns() < end) {
		usleep(50000 + (useconds_t)(rand_r(&seed) % 200000)); /* a kill every 50..250 ms */
		if (rand_r(&seed) % 5 == 0) { /* the writer: a new one takes over the socket */
			kill(w, SIGKILL);
			waitpid(w, NULL, 0);
			atomic_fetch_add(&c->writer_kills, 1);
			if ((w = fork()) == 0)
				writer(sock, c, max, grace_ns);
		} else {
			int i = rand_r(&seed) % READERS;
			kill(r[i], SIGKILL);
			waitpid(r[i], NULL, 0);
			atomic_fetch_add(&c->reader_kills, 1);
			if ((r[i] = fork()) == 0)
				reader(sock, c);
		}
	}
	atomic_store(&c->stop, 1);
	waitpid(w, NULL, 0);
	for (int i = 0; i < READERS; i++)
		waitpid(r[i], NULL, 0);

	printf("seconds %.0f, payloads up to %zu bytes, grace %.0f ms\n", seconds, max, grace_ns / 1e6);
	printf("reads %lu, writes %lu, reader kills %lu, writer kills %lu, stale (told) %lu\n",
	       (unsigned long)c->reads, (unsigned long)c->writes, (unsigned long)c->reader_kills,
	       (unsigned long)c->writer_kills, (unsigned long)c->stale);
	printf("torn reads %lu, writer's longest stall %.1f ms, %.1f ms less its CPU waits\n",
	       (unsigned long)c->torn, c->max_stall_ns / 1e6, c->max_own_ns / 1e6);
	return c->torn ? 1 : 0;
}
