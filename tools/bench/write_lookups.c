/* SPDX-License-Identifier: MIT */
/* mmsync-bench-write's part 4: random 8-byte lookups in a 1 GiB view, on
 * 4 KiB pages and on huge pages (MMSYNC_HUGETLB), and the huge page count
 * it may raise for them and puts back. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "write.h"

/* vm.nr_hugepages before part 4 raised it, put back at exit (write_main.c). */
char hp_saved[32];
volatile sig_atomic_t hp_raised;

bool hugepages_restore(void)
{
	if (!hp_raised)
		return true;
	int fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, hp_saved, strlen(hp_saved)) == (ssize_t)strlen(hp_saved);
	if (fd >= 0)
		close(fd);
	hp_raised = 0;
	return ok;
}

/* ---- 4. random lookups, 4 KiB pages vs huge pages ---- */

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atol(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

static long read_long_file(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static bool write_long_file(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return false;
	bool ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

/*
 * Makes room for two copies of @size bytes in huge pages. Called before the
 * run allocates anything large: on this VM (free page reporting) free
 * memory is handed back to the host in blocks that are briefly unusable, so
 * a request made later, among gigabytes just freed, came up short (633
 * pages free of 1024 needed). The kernel allocates what it can at each write; a few tries a
 * moment apart fill the rest. Return: true, or false with the reason in
 * R.lk_skip.
 */
bool hugepages_ensure(uint64_t size)
{
	long hp_kb = meminfo("Hugepagesize"), free_hp = meminfo("HugePages_Free");
	if (hp_kb <= 0 || free_hp < 0) {
		snprintf(R.lk_skip, sizeof(R.lk_skip), "no huge page figures in /proc/meminfo");
		return false;
	}
	uint64_t hp = (uint64_t)hp_kb * KiB;
	long need = (long)(2 * ((size + hp - 1) / hp));
	if (free_hp >= need)
		return true;
	if (geteuid() != 0) {
		snprintf(R.lk_skip, sizeof(R.lk_skip),
			 "%ld huge pages free, %ld needed; not root, so %s was not raised", free_hp,
			 need, NR_HUGEPAGES);
		return false;
	}
	long total = read_long_file(NR_HUGEPAGES);
	if (total < 0) {
		snprintf(R.lk_skip, sizeof(R.lk_skip), "cannot read %s", NR_HUGEPAGES);
		return false;
	}
	/* What is missing plus a margin; 1100 with 2 MiB pages. */
	long target = total + (need - free_hp) + need / 14;
	if (hp == 2 * MiB && target < 1100)
		target = 1100;
	snprintf(hp_saved, sizeof(hp_saved), "%ld\n", total);
	hp_raised = 1; /* from here on, put back at exit */
	for (int attempt = 0; attempt < 10; attempt++) {
		if (attempt) {
			struct timespec ts = { 0, 300000000 };
			nanosleep(&ts, NULL);
		}
		if (!write_long_file(NR_HUGEPAGES, target)) {
			snprintf(R.lk_skip, sizeof(R.lk_skip), "cannot write %s: %s", NR_HUGEPAGES,
				 strerror(errno));
			return false;
		}
		if ((free_hp = meminfo("HugePages_Free")) >= need) {
			printf("(raised %s from %ld to %ld for part 4; restored after it)\n", NR_HUGEPAGES,
			       total, target);
			return true;
		}
	}
	snprintf(R.lk_skip, sizeof(R.lk_skip),
		 "%s set to %ld but only %ld huge pages free after 10 tries, %ld needed",
		 NR_HUGEPAGES, target, free_hp, need);
	return false;
}

/* The library's log, kept: a hugetlb writer that fails says why there. */
static void keep_log(void *ctx, const char *msg)
{
	snprintf(ctx, sizeof(R.lk_skip), "%s", msg);
}

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* @n loads of 8 bytes at random 8-aligned offsets of @p (@len a power of
 * two). Each address comes from the generator, never from a loaded value:
 * the loads are independent, so the CPU overlaps them, and what differs
 * between page sizes is the cost of the address translations. */
static double lookups(const unsigned char *p, uint64_t len, long n, uint64_t seed)
{
	uint64_t s = seed, sum = 0, mask = (len - 1) & ~UINT64_C(7);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, p + (xorshift64(&s) & mask), 8);
		sum += v;
	}
	double ns = (double)(now_ns() - t0) / (double)n;
	volatile uint64_t sink = sum;
	(void)sink;
	return ns;
}

void bench_lookups(const char *src, uint64_t size, long n, int rounds, bool hp_ready)
{
	struct mmsync_writer *w[2] = { NULL, NULL };
	struct mmsync_reader *r[2] = { NULL, NULL };
	struct mmsync_view v[2];
	double ns[2][rounds];

	R.lk_ran = true;
	R.lk_n = n;
	R.lk_rounds = rounds;
	MMSYNC_OPTS(mmsync_native_opts, o4, .capacity = size);
	check(mmsync_writer_create(&w[0], run_name("bench-write"), &o4), "native writer");
	if (hp_ready) {
		MMSYNC_OPTS(mmsync_native_opts, oh, .capacity = size, .flags = MMSYNC_HUGETLB,
			    .log = keep_log, .log_ctx = R.lk_skip);
		int err = mmsync_writer_create(&w[1], run_name("bench-write-huge"), &oh);
		if (err) {
			size_t l = strlen(R.lk_skip);
			snprintf(R.lk_skip + l, sizeof(R.lk_skip) - l, "%shugetlb writer: %s",
				 l ? "; " : "", mmsync_strerror(err));
			w[1] = NULL;
		}
	}
	R.lk_huge = w[1] != NULL;
	int nw = R.lk_huge ? 2 : 1;
	for (int k = 0; k < nw; k++) {
		check(mmsync_write(w[k], src, size, GRACE_NS, NULL), "write");
		r[k] = reader_of(w[k]);
		check(mmsync_read_begin(r[k], &v[k]), "read_begin");
		if (v[k].len != size)
			die("lookup view: %zu bytes, expected %" PRIu64, v[k].len, size);
		lookups(v[k].data, size, n / 10, 1); /* warm caches and TLB */
	}
	settle(); /* after the frees of part 2 */
	/* Same addresses for both in a round (same seed); rounds alternate
	 * which goes first. */
	for (int i = 0; i < rounds; i++)
		for (int j = 0; j < nw; j++) {
			int k = (i % 2 && nw == 2) ? 1 - j : j;
			ns[k][i] = lookups(v[k].data, size, n, 0x9e3779b97f4a7c15ull + (uint64_t)i);
		}
	R.lk_4k = summarize(ns[0], rounds);
	if (R.lk_huge) {
		double q[rounds];
		for (int i = 0; i < rounds; i++)
			q[i] = ns[0][i] / ns[1][i];
		R.lk_hp = summarize(ns[1], rounds);
		R.lk_paired = summarize(q, rounds).med;
	}
	for (int k = 0; k < nw; k++) {
		mmsync_read_end(r[k], &v[k]);
		mmsync_reader_close(r[k]);
		mmsync_writer_close(w[k]);
	}
	/* The huge pages are free again: give them back now. */
	if (hp_raised && !hugepages_restore())
		fprintf(stderr, "mmsync-bench-write: could not restore %s: %s\n", NR_HUGEPAGES,
			strerror(errno));
}
