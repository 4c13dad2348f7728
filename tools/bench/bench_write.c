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
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_figures.h"
#include "mmsync.h"


#define GRACE_NS 1000000000ull	/* no reader ever holds a view across a write here */
#define ROUND_BYTES (256 * MiB)	/* a timed round moves at least this much: small
				 * sizes repeat, so that a round lasts ~25 ms */
#define READ_PIECE (1 * MiB)	/* the read() loop's request size */
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/* ---- plumbing: clock, errors, clean-up ---- */


/* Files of part 2 and the huge page count of part 4: undone at exit, by
 * atexit() and by the signal handler (which uses only async-signal-safe
 * calls, hence the prepared strings). */
#define MAX_TMP_FILES 8
static char tmp_files[MAX_TMP_FILES][512];
static volatile sig_atomic_t n_tmp_files;
static volatile sig_atomic_t hp_raised;	/* vm.nr_hugepages was changed */
static const char *json_partial;	/* the JSON file, until it is complete */
static char hp_saved[32];		/* its value before, as written back */

static bool hugepages_restore(void)
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

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mmsync-bench-write: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit: files removed, nr_hugepages restored */
}

/* For the library's return values (negative errno). */
static void check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, mmsync_strerror(err));
}

/* Anonymous memory, every page written once: no fault when timed. THP is
 * left at the system setting (here "madvise": so 4 KiB pages, as the memfd
 * copies have). */
static char *alloc_or_die(size_t len, int fill)
{
	char *p = (char *)alloc_prefaulted(len, fill);
	if (!p)
		die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}


/* ---- figures ---- */


static const char *fig_str(struct fig f, char buf[48])
{
	snprintf(buf, 48, "%7.2f [%.2f..%.2f]", f.med, f.min, f.max);
	return buf;
}

/* ---- results, kept for the JSON file and the summary ---- */

#define MAX_SIZES 8
#define N_CHUNKS 3
#define N_DEPTHS 3
static const size_t sweep_chunks[N_CHUNKS] = { 256 * KiB, 1 * MiB, 4 * MiB };
static const unsigned sweep_depths[N_DEPTHS] = { 1, 4, 8 };

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

/* Fills the figures of @pr from the rounds' GB/s. */
static void pair_finish(struct pair_result *pr, long reps, const double *lib, const double *base,
			const double *diag, int rounds)
{
	double q[rounds];
	pr->reps = reps;
	pr->diag = summarize(diag, rounds);
	for (int r = 0; r < rounds; r++)
		q[r] = lib[r] / base[r];
	pr->lib = summarize(lib, rounds);
	pr->base = summarize(base, rounds);
	pr->ratio = pr->lib.med / pr->base.med;
	pr->paired = summarize(q, rounds).med;
}

static struct {
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
} R;

/*
 * This machine is a VM with free page reporting: memory freed is handed
 * back to the host from about 2 s later, and while that runs the vCPUs
 * stall, now and then for ~100 ms (a 64 MiB memcpy timed at 0.4 GB/s
 * instead of 10, for about 5 s after freeing 3 GiB). So the run frees
 * large amounts only between parts, and timed rounds start after a pause
 * once the set-up of a part is done. The quick run frees little and skips it.
 */
#define SETTLE_S 5

static void settle(void)
{
	if (!R.quick)
		sleep(SETTLE_S);
}

/* ---- 1. write from a buffer ---- */

/* A writer of @size bytes, warm: each copy written (so prefaulted) twice. */
static struct mmsync_writer *buf_writer(uint64_t size, const char *src)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = size);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, "bench-write", &o), "native writer");
	for (int i = 0; i < 4; i++)
		check(mmsync_write(w, src, size, GRACE_NS, NULL), "write");
	return w;
}

/*
 * Three ways per round, in rotating order: mmsync_write(), memcpy into one
 * buffer (the baseline the target is judged on), and memcpy into two
 * buffers in turn. The third is not judged: a writer fills its two copies
 * in turn, so near the size of the last-level cache (32 MiB here) it works
 * on twice the memory of a one-buffer memcpy; the third shows what that
 * alone costs, without the library. @dst has room for 2 * @size.
 */
static struct pair_result bench_buffer(struct mmsync_writer *w, const char *src, char *dst,
				       uint64_t size, int rounds)
{
	struct pair_result pr = { .size = size };
	for (int i = 0; i < 2; i++) { /* the baselines warm too */
		memcpy(dst + i * size, src, size);
		clobber();
	}
	long reps = size >= ROUND_BYTES ? 1 : (long)(ROUND_BYTES / size);
	if (reps < 2)
		reps = 2; /* the two-buffer copy needs both buffers in a round */
	double lib[rounds], base[rounds], diag[rounds];
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 3; k++) {
			int m = (k + r) % 3;
			uint64_t t0 = now_ns();
			for (long i = 0; i < reps; i++) {
				if (m == 0) {
					check(mmsync_write(w, src, size, GRACE_NS, NULL), "write");
				} else {
					memcpy(dst + (m == 2 ? (uint64_t)(i & 1) * size : 0), src, size);
					clobber();
				}
			}
			double gbps = (double)size * (double)reps / (double)(now_ns() - t0);
			(m == 0 ? lib : m == 1 ? base : diag)[r] = gbps;
		}
	}
	pair_finish(&pr, reps, lib, base, diag, rounds);
	return pr;
}

/* ---- 2. write from a file in the page cache ---- */

/* A file of @size bytes under @dir, written from @src, synced (so that no
 * write-back runs while timing), then read once and checked to be resident. */
static int make_cached_file(const char *dir, uint64_t size, const char *src, char *scratch)
{
	if (n_tmp_files == MAX_TMP_FILES)
		die("too many temporary files");
	char *path = tmp_files[n_tmp_files];
	snprintf(path, sizeof(tmp_files[0]), "%s/mmsync-bench-write-%d-%" PRIu64, dir, (int)getpid(),
		 size);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	n_tmp_files++;
	for (uint64_t pos = 0; pos < size;) {
		size_t n = size - pos < READ_PIECE ? size - pos : READ_PIECE;
		ssize_t r = write(fd, src + pos, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write %s: %s", path, r < 0 ? strerror(errno) : "short write");
		pos += (uint64_t)r;
	}
	if (fsync(fd))
		die("fsync %s: %s", path, strerror(errno));
	for (uint64_t pos = 0; pos < size;) {
		ssize_t r = pread(fd, scratch, READ_PIECE, (off_t)pos);
		if (r <= 0)
			die("read %s: %s", path, r < 0 ? strerror(errno) : "unexpected end");
		pos += (uint64_t)r;
	}
	void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		size_t pages = (size + 4095) / 4096, resident = 0;
		unsigned char *vec = malloc(pages);
		if (vec && !mincore(m, size, vec))
			for (size_t i = 0; i < pages; i++)
				resident += vec[i] & 1;
		if (vec && resident < pages)
			fprintf(stderr, "mmsync-bench-write: warning: %s only %zu of %zu pages cached\n",
				path, resident, pages);
		free(vec);
		munmap(m, size);
	}
	return fd;
}

/* The baseline: read() in READ_PIECE requests into a prefaulted buffer. */
static void read_loop(int fd, char *dst, uint64_t size)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		die("lseek: %s", strerror(errno));
	for (uint64_t pos = 0; pos < size;) {
		size_t n = size - pos < READ_PIECE ? size - pos : READ_PIECE;
		ssize_t r = read(fd, dst + pos, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read: %s", r < 0 ? strerror(errno) : "unexpected end");
		pos += (uint64_t)r;
	}
	clobber();
}

static struct mmsync_writer *fd_writer(uint64_t size, size_t chunk, unsigned depth, int fd)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = size, .chunk_size = chunk, .queue_depth = depth);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, "bench-write", &o), "native writer");
	for (int i = 0; i < 2; i++) /* both copies prefaulted */
		check(mmsync_write_from_fd(w, fd, 0, size, GRACE_NS, NULL), "write_from_fd");
	return w;
}

static double time_from_fd(struct mmsync_writer *w, int fd, uint64_t size, long reps)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < reps; i++)
		check(mmsync_write_from_fd(w, fd, 0, size, GRACE_NS, NULL), "write_from_fd");
	return (double)size * (double)reps / (double)(now_ns() - t0);
}

/*
 * Three ways per round, in rotating order: write_from_fd (io_uring into the
 * copy), the read() loop into a plain buffer, and the read() loop into the
 * copy itself between mmsync_write_begin() and commit. The third is not a
 * target: it tells apart what a gap costs. Equal to the read() loop, the
 * copy and the publish cost nothing and the gap is io_uring's; equal to
 * write_from_fd, it is the copy memory or the publish.
 */
static struct pair_result bench_fd(struct mmsync_writer *w, int fd, char *dst, uint64_t size,
				   int rounds)
{
	struct pair_result pr = { .size = size };
	read_loop(fd, dst, size);

	long reps = size >= ROUND_BYTES ? 1 : (long)(ROUND_BYTES / size);
	double lib[rounds], base[rounds], diag[rounds];
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 3; k++) {
			int m = (k + r) % 3;
			uint64_t t0 = now_ns();
			for (long i = 0; i < reps; i++) {
				void *ptr;
				if (m == 0) {
					check(mmsync_write_from_fd(w, fd, 0, size, GRACE_NS, NULL),
					      "write_from_fd");
				} else if (m == 1) {
					read_loop(fd, dst, size);
				} else {
					check(mmsync_write_begin(w, size, GRACE_NS, &ptr), "write_begin");
					read_loop(fd, ptr, size);
					check(mmsync_write_commit(w, size, NULL), "write_commit");
				}
			}
			double gbps = (double)size * (double)reps / (double)(now_ns() - t0);
			(m == 0 ? lib : m == 1 ? base : diag)[r] = gbps;
		}
	}
	pair_finish(&pr, reps, lib, base, diag, rounds);
	return pr;
}

/* All nine writers exist at once and each round visits them in turn (from
 * a rotating start), so that drift in the machine's speed spreads over all
 * of them instead of favouring whichever ran first. */
static void bench_sweep(int fd, uint64_t size, int rounds)
{
	struct mmsync_writer *w[N_CHUNKS][N_DEPTHS];
	double v[N_CHUNKS * N_DEPTHS][rounds];
	long reps = size >= ROUND_BYTES ? 1 : (long)(ROUND_BYTES / size);

	for (int c = 0; c < N_CHUNKS; c++)
		for (int d = 0; d < N_DEPTHS; d++)
			w[c][d] = fd_writer(size, sweep_chunks[c], sweep_depths[d], fd);
	settle();
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < N_CHUNKS * N_DEPTHS; k++) {
			int i = (k + r) % (N_CHUNKS * N_DEPTHS);
			v[i][r] = time_from_fd(w[i / N_DEPTHS][i % N_DEPTHS], fd, size, reps);
		}
	R.sweep_size = size;
	R.best_c = R.best_d = 0;
	for (int c = 0; c < N_CHUNKS; c++)
		for (int d = 0; d < N_DEPTHS; d++) {
			R.sweep[c][d] = summarize(v[c * N_DEPTHS + d], rounds);
			if (R.sweep[c][d].med > R.sweep[R.best_c][R.best_d].med) {
				R.best_c = c;
				R.best_d = d;
			}
			mmsync_writer_close(w[c][d]);
		}
}

/* ---- 3. page faults once warm ---- */

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static struct mmsync_reader *reader_of(struct mmsync_writer *w)
{
	int fds[MMSYNC_NR_FDS];
	struct mmsync_reader *r;
	check(mmsync_writer_export_fds(w, fds), "export_fds");
	int err = mmsync_reader_from_fds(&r, fds, NULL);
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	check(err, "reader_from_fds");
	return r;
}

/* One read: begin, touch the first and last byte, end. Return: the bytes. */
static unsigned read_touch(struct mmsync_reader *r)
{
	struct mmsync_view v;
	check(mmsync_read_begin(r, &v), "read_begin");
	const unsigned char *p = v.data;
	unsigned x = v.len ? p[0] + p[v.len - 1] : 0;
	check(mmsync_read_end(r, &v), "read_end");
	return x;
}

/* The control: a zero means nothing if the counter does not count here.
 * Touching 16 fresh pages must show at least 16 faults. */
static void faults_counted_check(void)
{
	const size_t n = 16 * 4096;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	long f0 = minor_faults();
	for (size_t k = 0; k < n; k += 4096)
		((volatile char *)p)[k] = 1;
	long got = minor_faults() - f0;
	munmap(p, n);
	if (got < 16)
		die("ru_minflt counted %ld faults for 16 fresh pages: cannot count faults here", got);
}

static void bench_faults(const char *src, long writes, long reads_per_write)
{
	faults_counted_check();
	const size_t small = 4 * KiB, large = 256 * KiB;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = large);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, "bench-write", &o), "native writer");
	struct mmsync_reader *r = reader_of(w);
	volatile unsigned sink = 0;

	/* Warm: both copies written at the largest size and read by the
	 * reader, every page touched; then the small size once on each. */
	for (int i = 0; i < 2; i++) {
		struct mmsync_view v;
		check(mmsync_write(w, src, large, GRACE_NS, NULL), "write");
		check(mmsync_read_begin(r, &v), "read_begin");
		for (size_t k = 0; k < v.len; k += 4096)
			sink += ((const unsigned char *)v.data)[k];
		check(mmsync_read_end(r, &v), "read_end");
	}
	for (int i = 0; i < 2; i++) {
		check(mmsync_write(w, src, small, GRACE_NS, NULL), "write");
		sink += read_touch(r);
	}

	/* Counted by getrusage() around each write and around its reads, so
	 * that the faults of writes and reads are told apart. */
	long wf = 0, rf = 0;
	for (long i = 0; i < writes; i++) {
		long f0 = minor_faults();
		check(mmsync_write(w, src, i % 2 ? large : small, GRACE_NS, NULL), "write");
		long f1 = minor_faults();
		for (long k = 0; k < reads_per_write; k++)
			sink += read_touch(r);
		wf += f1 - f0;
		rf += minor_faults() - f1;
	}
	(void)sink;
	mmsync_reader_close(r);
	mmsync_writer_close(w);
	R.pf_writes = writes;
	R.pf_reads = writes * reads_per_write;
	R.pf_write_faults = wf;
	R.pf_read_faults = rf;
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
static bool hugepages_ensure(uint64_t size)
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

static void bench_lookups(const char *src, uint64_t size, long n, int rounds, bool hp_ready)
{
	struct mmsync_writer *w[2] = { NULL, NULL };
	struct mmsync_reader *r[2] = { NULL, NULL };
	struct mmsync_view v[2];
	double ns[2][rounds];

	R.lk_ran = true;
	R.lk_n = n;
	R.lk_rounds = rounds;
	MMSYNC_OPTS(mmsync_native_opts, o4, .capacity = size);
	check(mmsync_writer_create(&w[0], "bench-write", &o4), "native writer");
	if (hp_ready) {
		MMSYNC_OPTS(mmsync_native_opts, oh, .capacity = size, .flags = MMSYNC_HUGETLB,
			    .log = keep_log, .log_ctx = R.lk_skip);
		int err = mmsync_writer_create(&w[1], "bench-write-huge", &oh);
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

/* ---- 5. three ways to copy 64 MiB ---- */

#define PIECE (4 * MiB)
#define COPY_SIZE (64 * MiB)

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
static void bench_copies(const char *src, char *dst, size_t len, int rounds)
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

/* ---- output ---- */

static const char *met(bool ok)
{
	return ok ? "met" : "MISSED";
}

static bool t1_met(void)
{
	for (int i = 0; i < R.n_buf; i++)
		if (R.buf[i].size >= MiB && R.buf[i].ratio < 0.8)
			return false;
	return true;
}

static bool t2_met(void)
{
	for (int i = 0; i < R.n_fd; i++)
		if (R.fd[i].ratio < 1.0)
			return false;
	return true;
}

static bool t4_met(void)
{
	return R.lk_huge && R.lk_4k.med / R.lk_hp.med >= 1.2;
}

static bool sweep_defaults_ok(void)
{
	/* Defaults are chunk 1 MiB (index 1), depth 4 (index 1): supported
	 * when within 5 % of the best. */
	return R.sweep[1][1].med >= 0.95 * R.sweep[R.best_c][R.best_d].med;
}

static void print_pairs(const char *title, const char *lib, const char *base, const char *diag,
			const struct pair_result *p, int n, double target, uint64_t from)
{
	char s[32], a[48], b[48], d[48];
	printf("\n%s\n", title);
	printf("%9s %6s  %-26s %-26s", "size", "reps", lib, base);
	if (diag)
		printf(" %-26s", diag);
	printf(" %6s %6s  target\n", "ratio", "paired");
	for (int i = 0; i < n; i++) {
		printf("%9s %6ld  %-26s %-26s", size_str(p[i].size, s), p[i].reps, fig_str(p[i].lib, a),
		       fig_str(p[i].base, b));
		if (diag)
			printf(" %-26s", fig_str(p[i].diag, d));
		printf(" %6.2f %6.2f  ", p[i].ratio, p[i].paired);
		if (p[i].size < from)
			printf("-\n");
		else
			printf(">=%.1f %s\n", target, met(p[i].ratio >= target));
	}
}

static void print_report(void)
{
	char s[32], a[48], b[48], c[48];

	print_pairs("== 1. write from a buffer: GB/s, median [min..max]; baseline memcpy into a prefaulted buffer\n"
		    "   ratio = median/median (judged), paired = median of per-round ratios\n"
		    "   diagnostic (not judged): memcpy into two buffers in turn, as a writer fills its two copies",
		    "mmsync_write", "memcpy", "memcpy, 2 buffers", R.buf, R.n_buf, 0.8, MiB);
	print_pairs("== 2. write from a cached file: GB/s; baseline read() loop, 1 MiB reads, prefaulted buffer\n"
		    "   diagnostic (not judged): the same read() loop into the copy, between write_begin and commit",
		    "mmsync_write_from_fd", "read() loop", "begin+read()+commit", R.fd, R.n_fd, 1.0, 0);

	printf("\n== 2b. write_from_fd at %s: GB/s by chunk_size x queue_depth\n",
	       size_str(R.sweep_size, s));
	printf("%9s", "chunk");
	for (int d = 0; d < N_DEPTHS; d++)
		printf("   depth %-18u", sweep_depths[d]);
	printf("\n");
	for (int ci = 0; ci < N_CHUNKS; ci++) {
		printf("%9s", size_str(sweep_chunks[ci], s));
		for (int d = 0; d < N_DEPTHS; d++)
			printf("   %-24s", fig_str(R.sweep[ci][d], a));
		printf("\n");
	}
	printf("best: chunk %s depth %u, %.2f GB/s; defaults (1 MiB, 4): %.2f GB/s = %.0f %% of best: %s\n",
	       size_str(sweep_chunks[R.best_c], s), sweep_depths[R.best_d],
	       R.sweep[R.best_c][R.best_d].med, R.sweep[1][1].med,
	       100 * R.sweep[1][1].med / R.sweep[R.best_c][R.best_d].med,
	       sweep_defaults_ok() ? "supported (within 5 %)" : "NOT supported (more than 5 % below best)");

	printf("\n== 3. minor page faults once warm (4 KiB and 256 KiB payloads alternating), one process\n");
	printf("%-10s %12s %12s  %s\n", "", "operations", "minflt", "target 0");
	printf("%-10s %12ld %12ld  %s\n", "writes", R.pf_writes, R.pf_write_faults, met(!R.pf_write_faults));
	printf("%-10s %12ld %12ld  %s\n", "reads", R.pf_reads, R.pf_read_faults, met(!R.pf_read_faults));

	printf("\n== 4. random 8-byte lookups over a 1 GiB view: ns/lookup, median [min..max]\n");
	if (!R.lk_ran) {
		printf("skipped (--quick)\n");
	} else {
		printf("%ld independent loads a round, %d rounds\n", R.lk_n, R.lk_rounds);
		printf("%-16s %s\n", "4 KiB pages", fig_str(R.lk_4k, a));
		if (R.lk_huge) {
			printf("%-16s %s\n", "MMSYNC_HUGETLB", fig_str(R.lk_hp, b));
			printf("4K/hugetlb %.2f (paired %.2f)  target >=1.2 %s\n", R.lk_4k.med / R.lk_hp.med,
			       R.lk_paired, met(t4_met()));
		} else {
			printf("hugetlb column skipped: %s\n", R.lk_skip);
		}
	}

	printf("\n== 5. copying 64 MiB (prefaulted): GB/s, median [min..max] of %d rounds\n", R.cp_rounds);
	printf("%-34s %s\n", "memcpy", fig_str(R.cp_memcpy, a));
	printf("%-34s %s  (%+.0f %% vs memcpy)\n", "4 MiB pieces, prefetch next piece",
	       fig_str(R.cp_prefetch, b), 100 * (R.cp_prefetch.med / R.cp_memcpy.med - 1));
	printf("%-34s %s  (%+.0f %% vs memcpy)\n", "two threads, half each", fig_str(R.cp_threads, c),
	       100 * (R.cp_threads.med / R.cp_memcpy.med - 1));
	/* The comment above native_write(): prefetched pieces 14 % slower,
	 * two threads no faster (within 5 % counts as no faster). */
	bool pf_slower = R.cp_prefetch.med < R.cp_memcpy.med;
	bool thr_faster = R.cp_threads.med > 1.05 * R.cp_memcpy.med;
	printf("claim above native_write() (memcpy wins): prefetched pieces slower: %s; "
	       "two threads no faster: %s => %s\n",
	       pf_slower ? "confirmed" : "REFUTED", thr_faster ? "REFUTED" : "confirmed",
	       pf_slower && !thr_faster ? "confirmed" : "REFUTED");

	printf("\n== targets\n");
	printf("1. write/memcpy >= 0.8 from 1 MiB up: %s\n", met(t1_met()));
	printf("2. write_from_fd/read() >= 1.0: %s\n", met(t2_met()));
	printf("3. no minor faults once warm: %s\n", met(!R.pf_write_faults && !R.pf_read_faults));
	printf("4. hugetlb >= 1.2x faster lookups: %s\n",
	       !R.lk_ran ? "not run (--quick)" : !R.lk_huge ? "not measured (hugetlb skipped)" : met(t4_met()));
	printf("run took %.1f s\n", R.elapsed_s);
}

static void json_pairs(FILE *j, const char *name, const char *lib, const char *base,
		       const char *diag, const struct pair_result *p, int n)
{
	fprintf(j, "  \"%s\": [\n", name);
	for (int i = 0; i < n; i++) {
		fprintf(j, "    {\"size\": %" PRIu64 ", \"reps\": %ld, ", p[i].size, p[i].reps);
		json_fig(j, lib, p[i].lib);
		fprintf(j, ", ");
		json_fig(j, base, p[i].base);
		if (diag) {
			fprintf(j, ", ");
			json_fig(j, diag, p[i].diag);
		}
		fprintf(j, ", \"ratio\": %.4f, \"ratio_paired\": %.4f}%s\n", p[i].ratio, p[i].paired,
			i + 1 < n ? "," : "");
	}
	fprintf(j, "  ],\n");
}

static void write_json(FILE *j)
{
	fprintf(j, "{\n  \"tool\": \"mmsync-bench-write\", \"quick\": %s, \"rounds\": %d, \"cpus\": %ld, "
		   "\"unit_rate\": \"GB/s (1e9 bytes/s)\",\n",
		R.quick ? "true" : "false", R.rounds, sysconf(_SC_NPROCESSORS_ONLN));
	json_pairs(j, "write_buffer", "mmsync_gbps", "memcpy_gbps", "memcpy_2buf_gbps", R.buf, R.n_buf);
	json_pairs(j, "write_fd", "mmsync_gbps", "read_loop_gbps", "begin_read_commit_gbps", R.fd, R.n_fd);
	fprintf(j, "  \"fd_sweep\": {\"size\": %" PRIu64 ", \"results\": [\n", R.sweep_size);
	for (int c = 0; c < N_CHUNKS; c++)
		for (int d = 0; d < N_DEPTHS; d++) {
			fprintf(j, "    {\"chunk_size\": %zu, \"queue_depth\": %u, ", sweep_chunks[c],
				sweep_depths[d]);
			json_fig(j, "gbps", R.sweep[c][d]);
			fprintf(j, "}%s\n", c * N_DEPTHS + d + 1 < N_CHUNKS * N_DEPTHS ? "," : "");
		}
	fprintf(j, "  ], \"best\": {\"chunk_size\": %zu, \"queue_depth\": %u}, \"defaults_supported\": %s},\n",
		sweep_chunks[R.best_c], sweep_depths[R.best_d], sweep_defaults_ok() ? "true" : "false");
	fprintf(j, "  \"page_faults\": {\"writes\": %ld, \"reads\": %ld, \"write_minflt\": %ld, \"read_minflt\": %ld},\n",
		R.pf_writes, R.pf_reads, R.pf_write_faults, R.pf_read_faults);
	if (!R.lk_ran) {
		fprintf(j, "  \"lookups\": {\"skipped\": \"--quick\"},\n");
	} else {
		fprintf(j, "  \"lookups\": {\"size\": %" PRIu64 ", \"n\": %ld, \"rounds\": %d, ", GiB, R.lk_n,
			R.lk_rounds);
		json_fig(j, "ns_4k", R.lk_4k);
		if (R.lk_huge) {
			fprintf(j, ", ");
			json_fig(j, "ns_hugetlb", R.lk_hp);
			fprintf(j, ", \"ratio_4k_hugetlb\": %.4f, \"ratio_paired\": %.4f},\n",
				R.lk_4k.med / R.lk_hp.med, R.lk_paired);
		} else {
			fprintf(j, ", \"hugetlb_skipped\": \"");
			for (const char *p = R.lk_skip; *p; p++) /* no quotes or escapes in it */
				fputc(*p == '"' || *p == '\\' ? '\'' : *p, j);
			fprintf(j, "\"},\n");
		}
	}
	fprintf(j, "  \"copy_64mib\": {\"rounds\": %d, ", R.cp_rounds);
	json_fig(j, "memcpy_gbps", R.cp_memcpy);
	fprintf(j, ", ");
	json_fig(j, "prefetch_pieces_gbps", R.cp_prefetch);
	fprintf(j, ", ");
	json_fig(j, "two_threads_gbps", R.cp_threads);
	fprintf(j, "},\n");
	fprintf(j, "  \"targets\": {\"write_buffer_ratio_0_8\": %s, \"write_fd_ratio_1_0\": %s, "
		   "\"no_page_faults\": %s, \"hugetlb_1_2x\": %s},\n",
		t1_met() ? "true" : "false", t2_met() ? "true" : "false",
		!R.pf_write_faults && !R.pf_read_faults ? "true" : "false",
		!R.lk_huge ? "null" : t4_met() ? "true" : "false");
	fprintf(j, "  \"elapsed_s\": %.1f\n}\n", R.elapsed_s);
}

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
