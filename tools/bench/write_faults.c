/* SPDX-License-Identifier: MIT */
/* mmsync-bench-write's part 3: the minor page faults of warm writes and
 * reads, which must be none. */
#include <stdlib.h>
#include <sys/resource.h>

#include "write.h"

/* ---- 3. page faults once warm ---- */

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

struct mmsync_reader *reader_of(struct mmsync_writer *w)
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

void bench_faults(const char *src, long writes, long reads_per_write)
{
	faults_counted_check();
	const size_t small = 4 * KiB, large = 256 * KiB;
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = large);
	struct mmsync_writer *w;
	check(mmsync_writer_create(&w, run_name("bench-write"), &o), "native writer");
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
