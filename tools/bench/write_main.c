/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-write: what a native write costs next to the copy it cannot
 * avoid, what a reader gains from huge pages, and whether anything faults
 * once warm. One run, medians over rounds (min..max beside them), printed
 * as tables and optionally written as JSON. Figures, not assertions: the
 * targets are reported as met or missed, the exit status only says whether
 * the run itself worked.
 *
 *   mmsync-bench-write [--quick] [--json FILE] [--dir DIR] [--rounds N]
 *
 *   1. mmsync_write() from a buffer vs memcpy into a prefaulted buffer
 *   2. mmsync_write_from_fd() from the page cache vs a read() loop, and a
 *      sweep of chunk_size x queue_depth
 *   3. minor page faults of warm writes and reads (must be 0)
 *   4. random 8-byte lookups in a 1 GiB view: 4 KiB pages vs MMSYNC_HUGETLB
 *   5. 64 MiB copy: memcpy vs prefetched 4 MiB pieces vs two threads
 *
 * --quick: sizes up to 16 MiB, fewer rounds, no 1 GiB, no hugetlb (part 4
 * is skipped), under 30 s. Files of part 2 go to DIR (default /var/tmp)
 * and are removed at exit. As root, part 4 may raise vm.nr_hugepages; the
 * old value is put back at exit (also on SIGINT/SIGTERM).
 *
 * The files: write_main.c (this one: options, the order of the parts,
 * clean-up), write_paths.c (parts 1 and 2), write_faults.c (3),
 * write_lookups.c (4), write_copies.c (5), write_report.c (targets, tables,
 * JSON), write.h (what they share).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "write.h"

/* ---- plumbing: clock, errors, clean-up ---- */

/* Files of part 2 and the huge page count of part 4: undone at exit, by
 * atexit() and by the signal handler (which uses only async-signal-safe
 * calls, hence the prepared strings). */
char tmp_files[MAX_TMP_FILES][512];
volatile sig_atomic_t n_tmp_files;
static const char *json_partial;	/* the JSON file, until it is complete */

static void cleanup(void)
{
	for (int i = 0; i < n_tmp_files; i++)
		unlink(tmp_files[i]);
	n_tmp_files = 0;
	if (json_partial) /* a failed run leaves no empty or half JSON file */
		unlink(json_partial);
	if (hp_raised && !hugepages_restore())
		fprintf(stderr, "mmsync-bench-write: could not restore %s to %s: %s\n", NR_HUGEPAGES,
			hp_saved, strerror(errno));
}

static void on_signal(int sig)
{
	for (int i = 0; i < n_tmp_files; i++)
		unlink(tmp_files[i]);
	if (json_partial)
		unlink(json_partial);
	hugepages_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mmsync-bench-write: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit: files removed, nr_hugepages restored */
}

/* Anonymous memory, every page written once: no fault when timed. THP is
 * left at the system setting (here "madvise": so 4 KiB pages, as the memfd
 * copies have). */
char *alloc_or_die(size_t len, int fill)
{
	char *p = (char *)alloc_prefaulted(len, fill);
	if (!p)
		die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

/*
 * This machine is a VM with free page reporting: memory freed is handed
 * back to the host from about 2 s later, and while that runs the vCPUs
 * stall, now and then for ~100 ms (a 64 MiB memcpy timed at 0.4 GB/s
 * instead of 10, for about 5 s after freeing 3 GiB). So the run frees
 * large amounts only between parts, and timed rounds start after a pause
 * once the set-up of a part is done. The quick run frees little and skips it.
 */
#define SETTLE_S 5

void settle(void)
{
	if (!R.quick)
		sleep(SETTLE_S);
}

struct write_results R;

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "dir", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *json = NULL, *dir = "/var/tmp";
	int c, rounds = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'q': R.quick = true; break;
		case 'j': json = optarg; break;
		case 'd': dir = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 'h':
			printf("usage: mmsync-bench-write [--quick] [--json FILE] [--dir DIR] [--rounds N]\n");
			return 0;
		default:
			fprintf(stderr, "usage: mmsync-bench-write [--quick] [--json FILE] [--dir DIR] [--rounds N]\n");
			return 1;
		}
	}
	if (optind < argc || rounds < 0 || rounds > 1000) {
		fprintf(stderr, "mmsync-bench-write: bad arguments (see --help; --rounds 1..1000)\n");
		return 1;
	}
	R.rounds = rounds ? rounds : R.quick ? 5 : 11;

	/* Open the JSON file first: a bad path fails now, not after minutes. */
	FILE *jf = NULL;
	if (json && !(jf = fopen(json, "we")))
		die("%s: %s", json, strerror(errno));
	json_partial = json;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint64_t t_start = now_ns();
	static const uint64_t buf_sizes[] = { 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB };
	static const uint64_t fd_sizes[] = { 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB };
	uint64_t max_size = R.quick ? 16 * MiB : 1 * GiB;
	uint64_t buf_size = max_size > COPY_SIZE ? max_size : COPY_SIZE; /* part 5 too */

	printf("mmsync-bench-write: %s run, %d rounds; %ld CPUs\n", R.quick ? "quick" : "full", R.rounds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	bool hp_ready = !R.quick && hugepages_ensure(GiB);

	/* One source and one baseline destination (room for two buffers),
	 * prefaulted, of the largest size; each measurement uses their first
	 * bytes. */
	char *src = alloc_or_die(buf_size, 0xa5);
	char *dst = alloc_or_die(2 * buf_size, 0);

	/* Each part makes all its writers first and frees them only at its
	 * end, so that no large free falls among timed rounds (see settle()). */
	part_begin("1. write from a buffer");
	struct mmsync_writer *bw[MAX_SIZES];
	int nb = 0;
	for (size_t i = 0; i < sizeof(buf_sizes) / sizeof(buf_sizes[0]); i++)
		if (buf_sizes[i] <= max_size)
			bw[nb++] = buf_writer(buf_sizes[i], src);
	settle();
	for (int i = 0; i < nb; i++)
		R.buf[R.n_buf++] = bench_buffer(bw[i], src, dst, buf_sizes[i], R.rounds);
	for (int i = 0; i < nb; i++)
		mmsync_writer_close(bw[i]);
	part_end();

	printf("   (files in %s)\n", dir);
	part_begin("2. write from a cached file");
	uint64_t sweep_size = R.quick ? 16 * MiB : 256 * MiB;
	int ffd[MAX_SIZES], sweep_fd = -1, nf = 0;
	struct mmsync_writer *fw[MAX_SIZES];
	for (size_t i = 0; i < sizeof(fd_sizes) / sizeof(fd_sizes[0]); i++) {
		if (fd_sizes[i] > max_size)
			continue;
		ffd[nf] = make_cached_file(dir, fd_sizes[i], src, dst);
		fw[nf] = fd_writer(fd_sizes[i], 0, 0, ffd[nf]); /* the library's defaults */
		if (fd_sizes[i] == sweep_size)
			sweep_fd = ffd[nf];
		nf++;
	}
	if (sweep_fd < 0)
		die("no file of %" PRIu64 " bytes for the sweep", sweep_size);
	settle();
	for (int i = 0; i < nf; i++)
		R.fd[R.n_fd++] = bench_fd(fw[i], ffd[i], dst, fd_sizes[i], R.rounds);
	part_end();

	/* The writers of part 2 stay until the sweep is done: no free before it. */
	part_begin("2b. chunk_size x queue_depth sweep");
	bench_sweep(sweep_fd, sweep_size, R.rounds);
	for (int i = 0; i < nf; i++) {
		mmsync_writer_close(fw[i]);
		close(ffd[i]);
	}
	for (int i = 0; i < n_tmp_files; i++) /* the files are no longer needed */
		unlink(tmp_files[i]);
	n_tmp_files = 0;
	part_end();

	if (!R.quick) {
		part_begin("4. random lookups");
		bench_lookups(src, GiB, 20000000, R.rounds, hp_ready);
		part_end();
	}

	part_begin("5. copying 64 MiB");
	settle(); /* after the frees of part 4 */
	bench_copies(src, dst, COPY_SIZE, 3 * R.rounds); /* ~20 ms a round: cheap */
	part_end();

	/* Last: it counts faults, it does not time, so no pause before it. */
	part_begin("3. page faults");
	bench_faults(src, 100000, 100);
	part_end();
	munmap(src, buf_size);
	munmap(dst, 2 * buf_size);

	R.elapsed_s = (double)(now_ns() - t_start) / 1e9;
	print_report();
	if (jf) {
		write_json(jf);
		if (fclose(jf))
			die("%s: %s", json, strerror(errno));
		json_partial = NULL;
		printf("JSON written to %s\n", json);
	}
	return 0;
}
