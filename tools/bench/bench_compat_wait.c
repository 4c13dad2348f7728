/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-compat-wait: writes/s of the compat writer while reader
 * processes spin on mmsync_read_begin()/mmsync_read_end() of the same
 * segment, with 0, 1, 2 and 4 such readers. It measures how the writer
 * waits for the readers of the copy it is about to overwrite: with more
 * spinning readers than cores, a writer that yields its core (sched_yield)
 * hands it to a reader for a whole time slice.
 *
 *   mmsync-bench-compat-wait [--seconds S] [--rounds N] [--size BYTES]
 *                            [--readers LIST] [--json FILE]
 *
 * Each figure is the median of N rounds of S seconds (default 3 of 1 s),
 * with min and max; payloads of BYTES bytes (default 64), grace 1 s. Uses
 * only the public API: built against another version of the library it
 * measures that version's writer.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_figures.h"
#include "mmsync.h"

struct shared {
	_Atomic int stop;
	_Atomic uint64_t reads;
};

static void reader_spin(const char *prefix, struct shared *sh)
{
	struct mmsync_reader *r;
	struct mmsync_view v;
	uint64_t n = 0;

	if (mmsync_reader_open(&r, prefix, NULL))
		_exit(3);
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		if (mmsync_read_begin(r, &v) == 0) {
			clobber();
			mmsync_read_end(r, &v);
		}
		n++;
	}
	atomic_fetch_add(&sh->reads, n);
	mmsync_reader_close(r);
	_exit(0);
}

/* One round: @nreaders spinning readers, the writer writing for @secs.
 * Return: writes/s, or a negative errno. */
static double round_run(const char *prefix, unsigned nreaders, double secs, const void *buf,
			size_t size, uint64_t *resets, double *reads_s)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				 -1, 0);
	struct mmsync_writer *w;
	struct mmsync_write_info info;
	pid_t pid[64];
	int err;

	if (sh == MAP_FAILED)
		return -errno;
	if ((err = mmsync_writer_open(&w, prefix, NULL)) ||
	    (err = mmsync_write(w, buf, size, 1000000000, NULL))) {
		munmap(sh, sizeof(*sh));
		return err;
	}
	for (unsigned i = 0; i < nreaders; i++)
		if ((pid[i] = fork()) == 0)
			reader_spin(prefix, sh);
	usleep(50000); /* the readers running */

	uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), t = t0;
	do {
		if ((err = mmsync_write(w, buf, size, 1000000000, &info)))
			break;
		*resets += info.reset;
		n++;
	} while ((t = now_ns()) < end);

	atomic_store(&sh->stop, 1);
	for (unsigned i = 0; i < nreaders; i++)
		waitpid(pid[i], NULL, 0);
	*reads_s = (double)atomic_load(&sh->reads) / secs;
	mmsync_writer_close(w);
	munmap(sh, sizeof(*sh));
	return err ? err : (double)n / ((double)(t - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 'b' },
		{ "readers", required_argument, NULL, 'n' },
		{ "json", required_argument, NULL, 'j' },
		{ 0 },
	};
	double secs = 1.0;
	int rounds = 3;
	size_t size = 64;
	const char *json = NULL, *list = "0,1,2,4";
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': secs = atof(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'b': size = strtoull(optarg, NULL, 0); break;
		case 'n': list = optarg; break;
		case 'j': json = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--seconds S] [--rounds N] [--size BYTES] "
					"[--readers LIST] [--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (secs <= 0 || rounds < 1 || rounds > 100 || size > (64u << 20)) {
		fprintf(stderr, "%s: bad --seconds, --rounds or --size\n", argv[0]);
		return 2;
	}

	char dir[] = "/dev/shm/mmsync-bench-wait-XXXXXX", prefix[64];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "%s/seg", dir);
	void *buf = calloc(1, size ? size : 1);
	FILE *j = json ? fopen(json, "w") : NULL;
	if (!buf || (json && !j)) {
		perror(json && !j ? json : "calloc");
		return 1;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	printf("compat writer, %zu-byte payloads, grace 1 s, %ld cores; median of %d rounds of %.1f s\n",
	       size, cores, rounds, secs);
	printf("%-8s %12s %12s %12s %8s %14s\n", "readers", "writes/s", "min", "max", "resets",
	       "reads/s");
	if (j)
		fprintf(j, "{\"size\": %zu, \"cores\": %ld, \"rounds\": %d, \"seconds\": %.3f, \"results\": [",
			size, cores, rounds, secs);

	int rc = 0, first = 1;
	for (const char *p = list; *p;) {
		char *e;
		unsigned long nr = strtoul(p, &e, 10);
		if (e == p || nr > 64) {
			fprintf(stderr, "%s: bad --readers list\n", argv[0]);
			rc = 2;
			break;
		}
		p = *e == ',' ? e + 1 : e;
		double ws[100], rs = 0;
		uint64_t resets = 0;
		for (int i = 0; i < rounds; i++) {
			ws[i] = round_run(prefix, (unsigned)nr, secs, buf, size, &resets, &rs);
			if (ws[i] < 0) {
				fprintf(stderr, "%s: %s\n", argv[0], mmsync_strerror((int)ws[i]));
				rc = 1;
				goto out;
			}
		}
		struct fig f = summarize(ws, rounds);
		printf("%-8lu %12.0f %12.0f %12.0f %8lu %14.0f\n", nr, f.med, f.min, f.max,
		       (unsigned long)resets, rs);
		if (j) {
			fprintf(j, "%s{\"readers\": %lu, \"resets\": %lu, ", first ? "" : ", ", nr,
				(unsigned long)resets);
			json_fig(j, "writes_per_s", f);
			fprintf(j, "}");
		}
		first = 0;
	}
out:
	if (j) {
		fprintf(j, "]}\n");
		fclose(j);
	}
	free(buf);
	char path[128];
	const char *sfx[] = { "_state", "_data_0", "_data_1" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", prefix, sfx[i]);
		unlink(path);
	}
	rmdir(dir);
	return rc;
}
