/* SPDX-License-Identifier: MIT */
/* What the files of mmsync-bench-write share: its constants, the results of
 * every part (kept for the report and the JSON file), the clean-up state
 * and the functions each file offers the others. */
#ifndef MMSYNC_BENCH_WRITE_H
#define MMSYNC_BENCH_WRITE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_figures.h"
#include "mmsync.h"

#define GRACE_NS 1000000000ull	/* no reader ever holds a view across a write here */
#define ROUND_BYTES (256 * MiB)	/* a timed round moves at least this much: small
				 * sizes repeat, so that a round lasts ~25 ms */
#define READ_PIECE (1 * MiB)	/* the read() loop's request size */
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define COPY_SIZE (64 * MiB)	/* part 5's copy */

/* ---- clean-up (write_main.c): files of part 2, the huge page count of part 4 ---- */

#define MAX_TMP_FILES 8
extern char tmp_files[MAX_TMP_FILES][512];
extern volatile sig_atomic_t n_tmp_files;
extern volatile sig_atomic_t hp_raised;	/* vm.nr_hugepages was changed */
extern char hp_saved[32];		/* its value before, as written back */
bool hugepages_restore(void);

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* For the library's return values (negative errno); inline, as the timed
 * loops call it around each write. */
static inline void check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, mmsync_strerror(err));
}
char *alloc_or_die(size_t len, int fill);
void settle(void);

/* ---- results, kept for the JSON file and the summary ---- */

#define MAX_SIZES 8
#define N_CHUNKS 3
#define N_DEPTHS 3
extern const size_t sweep_chunks[N_CHUNKS];
extern const unsigned sweep_depths[N_DEPTHS];

struct pair_result {
	uint64_t size;
	long reps;		/* operations per round */
	struct fig lib, base;	/* GB/s: mmsync, and the plain baseline */
	struct fig diag;	/* not judged: part 1 memcpy into two buffers in
				 * turn, part 2 write_begin + read() + commit */
	double ratio;		/* lib.med / base.med: what the targets judge */
	double paired;		/* median of the rounds' own lib/base: both ran
				 * back to back, so drift of the machine (a VM
				 * here) cancels out of it */
};

struct write_results {
	bool quick;
	int rounds;
	int n_buf, n_fd;
	struct pair_result buf[MAX_SIZES], fd[MAX_SIZES];
	uint64_t sweep_size;
	struct fig sweep[N_CHUNKS][N_DEPTHS];
	int best_c, best_d;
	/* part 3 */
	long pf_writes, pf_reads, pf_write_faults, pf_read_faults;
	/* part 4 */
	bool lk_ran, lk_huge;
	long lk_n;
	int lk_rounds;
	struct fig lk_4k, lk_hp;
	double lk_paired;	/* median of the rounds' own 4K/hugetlb */
	char lk_skip[256];
	/* part 5 */
	struct fig cp_memcpy, cp_prefetch, cp_threads;
	int cp_rounds;
	double elapsed_s;
};
extern struct write_results R;

/* write_paths.c: parts 1 and 2, mmsync_write() and mmsync_write_from_fd(). */
void pair_finish(struct pair_result *pr, long reps, const double *lib, const double *base,
		 const double *diag, int rounds);
struct mmsync_writer *buf_writer(uint64_t size, const char *src);
struct pair_result bench_buffer(struct mmsync_writer *w, const char *src, char *dst,
				uint64_t size, int rounds);
int make_cached_file(const char *dir, uint64_t size, const char *src, char *scratch);
struct mmsync_writer *fd_writer(uint64_t size, size_t chunk, unsigned depth, int fd);
struct pair_result bench_fd(struct mmsync_writer *w, int fd, char *dst, uint64_t size,
			    int rounds);
void bench_sweep(int fd, uint64_t size, int rounds);

/* write_faults.c: part 3, and a warm reader of a writer (part 4 too) */
struct mmsync_reader *reader_of(struct mmsync_writer *w);
void bench_faults(const char *src, long writes, long reads_per_write);

/* write_lookups.c: part 4 */
bool hugepages_ensure(uint64_t size);
void bench_lookups(const char *src, uint64_t size, long n, int rounds, bool hp_ready);

/* write_copies.c: part 5 */
void bench_copies(const char *src, char *dst, size_t len, int rounds);

/* write_report.c */
void print_report(void);
void write_json(FILE *j);

#endif
