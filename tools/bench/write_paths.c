/* SPDX-License-Identifier: MIT */
/* mmsync-bench-write's parts 1 and 2, the two write paths: mmsync_write()
 * from a buffer against memcpy, mmsync_write_from_fd() from the page cache
 * against a read() loop, and the sweep of its chunk size and queue depth. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "write.h"

const size_t sweep_chunks[N_CHUNKS] = { 256 * KiB, 1 * MiB, 4 * MiB };
const unsigned sweep_depths[N_DEPTHS] = { 1, 4, 8 };

/* Fills the figures of @pr from the rounds' GB/s. */
void pair_finish(struct pair_result *pr, long reps, const double *lib, const double *base,
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

/* ---- 1. write from a buffer ---- */

/* A writer of @size bytes, warm: each copy written (so prefaulted) twice. */
struct mmsync_writer *buf_writer(uint64_t size, const char *src)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = size);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, run_name("bench-write"), &o), "native writer");
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
struct pair_result bench_buffer(struct mmsync_writer *w, const char *src, char *dst,
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
int make_cached_file(const char *dir, uint64_t size, const char *src, char *scratch)
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

struct mmsync_writer *fd_writer(uint64_t size, size_t chunk, unsigned depth, int fd)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = size, .chunk_size = chunk, .queue_depth = depth);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, run_name("bench-write"), &o), "native writer");
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
struct pair_result bench_fd(struct mmsync_writer *w, int fd, char *dst, uint64_t size,
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
void bench_sweep(int fd, uint64_t size, int rounds)
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
