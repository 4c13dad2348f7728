/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-read-spread: how the cost of one native read (begin+end of
 * a small payload) varies from one reader process to the next, and where
 * each process had the words the read touches.
 *
 *   mmsync-bench-read-spread [--procs N] [--rounds N] [--ops N] [--size BYTES]
 *                            [--fds] [--stack-step BYTES] [--heap-step BYTES]
 *   mmsync-bench-read-spread --walk view|handle [--rounds N] [--ops N]
 *
 * The parent is a native writer served by the library's thread
 * (MMSYNC_LISTEN_SERVE) and publishes @size bytes once. It then runs N
 * reader processes one after another, each a fresh exec of this program
 * (its own address-space layout: stack, heap and mappings placed anew).
 * Each connects one reader and times --rounds rounds of --ops reads (begin,
 * one byte of the payload, end: the loop of mmsync-bench): for each i, a
 * process with a fenceless reader, then one with a fenced reader
 * (MMSYNC_FENCED; a process of its own, never registered for membarrier,
 * so that other writers' barriers do not reach it). --fds: readers
 * made from the descriptors of mmsync_writer_export_fds(), inherited over
 * exec (a slot in the shared table) instead of the socket.
 *
 * Rounds are timed on the thread's CPU clock (cpu_ns()). Printed: per
 * process and reader, the median of its rounds, that of a reference timed
 * between them (ref: the same read at fixed addresses, see imitation()),
 * and the low
 * 12 bits (page offset) and the 64-byte line within the page of what the
 * read touches: the handle (struct mmsync_read_fast), its count nreads,
 * the slot's arrived word, the header's vi and li, both descriptors, the
 * copy read, and the caller's view and sink on the stack; then "alias",
 * the pairs of those that share page offsets (4 KiB aliasing: a load after
 * a store to another address with the same low 12 bits can wait for the
 * store), and "view+8|page" where a 16-byte store at view+8 (len and
 * version, as GCC merges them) straddles two pages. Last, min/median/max
 * over the processes' medians.
 *
 * --stack-step: process i puts the view at page offset i * BYTES (mod
 * 4096; BYTES a multiple of 16), moving its frame down (alloca); 256
 * processes at 16 try every offset once. --heap-step: process i mallocs
 * i * BYTES before it connects, which moves a handle the heap places. To
 * walk the placements instead of leaving them to chance.
 *
 * --walk view|handle: in this process instead, one fenceless and one
 * fenced reader, the caller's view (or a copy of the handle's struct
 * mmsync_read_fast, which is all the inline path reads) placed at each of
 * the 256 16-byte offsets of a page in turn, --rounds passes over them
 * interleaved (the machine's load falls on every offset alike), the least
 * of each offset's rounds kept: prints the median over offsets and the
 * offsets that cost 0.5 ns more or over.
 */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_figures.h"
#include "mmsync.h"

static void die(const char *what, int err)
{
	fprintf(stderr, "mmsync-bench-read-spread: %s: %s\n", what, mmsync_strerror(err));
	exit(1);
}

/* The thread's CPU time: a round that another task on the CPU preempts
 * (the machine's other work, with its CPU pinned) is not charged for the
 * time it waited, as a round of the wall clock would be. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the read touches, as named in the table. */
enum { A_HANDLE, A_NREADS, A_ARRIVED, A_VI, A_LI, A_DESC0, A_DESC1, A_COPY, A_VIEW, A_SINK, NA };
static const char *const aname[NA] = { "handle", "nreads", "arrived", "vi", "li",
				       "desc0", "desc1", "copy", "view", "sink" };

/* One reader's result, written by the child to its pipe. */
struct one {
	double med, min, max;
	double ref;		/* median ns of the reference (imitation()) */
	uintptr_t a[NA];
};

/* What each object spans, to find the page offsets two of them share: the
 * handle's fast part, the slot's words, the header's read line, the byte
 * read, the fields of the caller's view that begin stores, and the sink. */
struct span {
	const char *name;
	uintptr_t at, len;
};

static int spans_of(const struct one *o, struct span s[6])
{
	s[0] = (struct span){ "handle", o->a[A_HANDLE], sizeof(struct mmsync_read_fast) };
	s[1] = (struct span){ "slot", o->a[A_ARRIVED], 24 };	/* arrived, reading, evictions */
	s[2] = (struct span){ "hdr", o->a[A_VI], 8 + 2 * 24 };	/* vi, li, copy[2] */
	s[3] = (struct span){ "copy", o->a[A_COPY], 1 };
	s[4] = (struct span){ "view", o->a[A_VIEW], offsetof(struct mmsync_view, reserved_) };
	s[5] = (struct span){ "sink", o->a[A_SINK], 1 };
	return 6;
}

/* Do [a, a+la) and [b, b+lb) share a byte modulo 4096? */
static int alias4k(uintptr_t a, uintptr_t la, uintptr_t b, uintptr_t lb)
{
	uintptr_t d = (b - a) & 4095; /* b's offset past a, modulo a page */
	return d < la || 4096 - d < lb;
}

static void print_aliases(const struct one *o)
{
	struct span s[6];
	int n = spans_of(o, s), any = 0;
	/* GCC merges begin's stores of len and version into one 16-byte store
	 * at view+8: across two pages when the view sits at a page's last 16. */
	if (((o->a[A_VIEW] + 8) & 4095) > 4096 - 16) {
		printf(" view+8|page");
		any = 1;
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (alias4k(s[i].at, s[i].len, s[j].at, s[j].len)) {
				printf("%s%s~%s", any ? "," : " ", s[i].name, s[j].name);
				any = 1;
			}
	if (!any)
		printf(" -");
}

/* The loop of mmsync-bench: begin, touch a byte, end. Not inlined, so
 * that its view and sink sit in a frame of their own, as in a caller. */
static __attribute__((noinline)) double read_round(struct mmsync_reader *r, long ops,
						   uintptr_t *view_at, uintptr_t *sink_at)
{
	volatile unsigned char sink = 0;
	struct mmsync_view v;
	int err;

	uint64_t t0 = cpu_ns();
	for (long i = 0; i < ops; i++) {
		if ((err = mmsync_read_begin(r, &v)))
			die("read_begin", err);
		sink ^= ((const unsigned char *)v.data)[0];
		mmsync_read_end(r, &v);
	}
	uint64_t t1 = cpu_ns();
	*view_at = (uintptr_t)&v;
	*sink_at = (uintptr_t)&sink;
	return (double)(t1 - t0) / (double)ops;
}

/* read_round() with its frame @pad bytes lower. */
static __attribute__((noinline)) double read_at_depth(struct mmsync_reader *r, long ops, size_t pad,
						      uintptr_t *view_at, uintptr_t *sink_at)
{
	volatile char *p = alloca(pad + 1); /* pad + 16 bytes: 16-byte steps */
	p[0] = 0;
	return read_round(r, ops, view_at, sink_at);
}

/*
 * The reference, timed between the rounds: the same inline read, fenced or
 * not as @rf, of an imitation of @rf's segment in this process's own
 * memory: the slot's words, the header's and the payload at the page
 * offsets @rf has them, but the handle's fast part at 0x800 and the view
 * at 0x400, where they share no page offset with the rest. It costs what
 * a read costs on this core at the time (its clock, a busy sibling, the
 * machine's other work): a process whose reads and reference are both
 * slow ran on a slower core; one whose reads alone are slow, on worse
 * addresses.
 */
enum { REF_HANDLE_AT = 0x800, REF_VIEW_AT = 0x400 };

static struct mmsync_read_fast *imitation(const struct mmsync_read_fast *rf)
{
	unsigned char *m = aligned_alloc(4096, 4 * 4096);
	if (!m)
		die("reference", -ENOMEM);
	memset(m, 0, 4 * 4096);
	unsigned char *slot = m, *hdr = m + 4096, *copy = m + 2 * 4096;
	struct mmsync_read_fast *f = (void *)(m + 3 * 4096 + REF_HANDLE_AT);
#define AT(base, p) ((void *)((base) + ((uintptr_t)(p) & 4095)))
	f->mode = rf->mode;
	f->vi = AT(hdr, rf->vi);
	f->li = AT(hdr, rf->li); /* 0: copy 0 */
	for (int c = 0; c < 2; c++) {
		uint64_t *d = AT(hdr, rf->desc[c]);
		d[0] = 36 << 1 | (uint64_t)c; /* version word: size, copy */
		d[1] = 1;		      /* seq */
		d[2] = 1;		      /* generation */
		f->desc[c] = d;
		f->copy[c] = AT(copy, rf->copy[c]);
		f->ready[c] = 4096;
	}
	f->generation = 1;
	f->arrived = AT(slot, rf->arrived);
	f->reading = AT(slot, rf->reading);
	f->slot_evictions = AT(slot, rf->slot_evictions);
#undef AT
	return f;
}

/* @view_at: the view's page offset, or -1 where the stack puts it. */
static struct one measure(struct mmsync_reader *r, int rounds, long ops, long view_at)
{
	struct mmsync_read_fast *f = (struct mmsync_read_fast *)r;
	double ns[rounds], ref[rounds];
	struct one o = { 0 };
	struct mmsync_view v;
	int err;

	for (int i = 0; i < 4; i++) { /* warm-up: the copy mapped and prefaulted */
		if ((err = mmsync_read_begin(r, &v)))
			die("read_begin", err);
		mmsync_read_end(r, &v);
	}
	struct mmsync_read_fast *im = imitation(f);
	uintptr_t at, sink_at;
	read_at_depth(r, 1, 0, &at, &sink_at); /* where the view is with no pad */
	size_t pad = view_at >= 0 ? (size_t)((at - (uintptr_t)view_at) & 4095) : 0;
	size_t ref_pad = (size_t)((at - REF_VIEW_AT) & 4095);
	for (int i = 0; i < rounds; i++) {
		ns[i] = read_at_depth(r, ops, pad, &o.a[A_VIEW], &o.a[A_SINK]);
		ref[i] = read_at_depth((struct mmsync_reader *)im, ops, ref_pad, &at, &sink_at);
	}
	free((unsigned char *)im - 3 * 4096 - REF_HANDLE_AT);
	o.ref = summarize(ref, rounds).med;
	struct fig fg = summarize(ns, rounds);
	o.med = fg.med;
	o.min = fg.min;
	o.max = fg.max;
	unsigned c = *f->li & 1;
	o.a[A_HANDLE] = (uintptr_t)f;
	o.a[A_NREADS] = (uintptr_t)&f->nreads;
	o.a[A_ARRIVED] = (uintptr_t)f->arrived;
	o.a[A_VI] = (uintptr_t)f->vi;
	o.a[A_LI] = (uintptr_t)f->li;
	o.a[A_DESC0] = (uintptr_t)f->desc[0];
	o.a[A_DESC1] = (uintptr_t)f->desc[1];
	o.a[A_COPY] = (uintptr_t)f->copy[c];
	return o;
}

static void walk(struct mmsync_writer *w, const char *sock, bool handle, int passes, long ops)
{
	enum { N = 256 };
	static const unsigned flags[2] = { 0, MMSYNC_FENCED };
	/* a page for the copies of the handle's fast part, between two others */
	unsigned char *page = aligned_alloc(4096, 3 * 4096);
	if (!page)
		die("walk", -ENOMEM);
	page += 4096;
	for (int m = 0; m < 2; m++) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .flags = flags[m]);
		struct mmsync_reader *r;
		struct mmsync_view v;
		int err;
		if ((err = mmsync_reader_connect(&r, sock, &o)))
			die("reader", err);
		if ((err = mmsync_read_begin(r, &v)))
			die("read_begin", err);
		mmsync_read_end(r, &v);
		double best[N], sorted[N];
		uintptr_t at[N];
		for (int i = 0; i < N; i++)
			best[i] = 1e9;
		for (int p = 0; p < passes; p++) {
			for (int i = 0; i < N; i++) {
				double t;
				if (handle) {
					/* Nothing but the inline path reads the copy,
					 * and no write comes to send it to the library. */
					struct mmsync_read_fast *g = (void *)(page + 16 * i);
					memcpy(g, r, sizeof(*g));
					uintptr_t view_at, sink_at;
					t = read_round((struct mmsync_reader *)g, ops, &view_at, &sink_at);
					at[i] = (uintptr_t)g;
				} else {
					uintptr_t sink_at;
					t = read_at_depth(r, ops, (size_t)(16 * i), &at[i], &sink_at);
				}
				best[i] = t < best[i] ? t : best[i];
			}
		}
		memcpy(sorted, best, sizeof(best));
		double med = summarize(sorted, N).med;
		printf("%s, %s at each 16-byte offset of a page: median %.2f ns; 0.5 ns more or over:",
		       m ? "fenced" : "fenceless", handle ? "handle" : "view", med);
		int any = 0;
		for (int i = 0; i < N; i++)
			if (best[i] >= med + 0.5) {
				printf(" %03" PRIxPTR ":%.2f", at[i] & 4095, best[i]);
				any = 1;
			}
		printf("%s\n", any ? "" : " none");
		fflush(stdout);
		mmsync_reader_close(r);
	}
	free(page - 4096);
	(void)w;
}

/* A reader process, fenced or not: its result to @out. */
static int child(const char *sock, const char *fdlist, bool fenced, int rounds, long ops,
		 long view_at, long heap_pad, int out)
{
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = fenced ? MMSYNC_FENCED : 0);
	void *heap = heap_pad ? malloc((size_t)heap_pad) : NULL;
	struct mmsync_reader *r;
	int err;

	if (fdlist) {
		int fds[MMSYNC_NR_FDS];
		if (sscanf(fdlist, "%d,%d,%d,%d", &fds[0], &fds[1], &fds[2], &fds[3]) != 4)
			die("--child-fds", -EINVAL);
		err = mmsync_reader_from_fds(&r, fds, &o);
	} else {
		err = mmsync_reader_connect(&r, sock, &o);
	}
	if (err)
		die("reader", err);
	struct one res = measure(r, rounds, ops, view_at);
	mmsync_reader_close(r);
	free(heap);
	return write(out, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1;
}

/* Runs one reader process (a fresh exec of this program) and reads its result. */
static struct one run_child(char **argv, const char *target, bool use_fds, bool fenced, int rounds,
			    long ops, long view_at, long heap_pad)
{
	struct one res;
	int pfd[2];
	if (pipe(pfd))
		die("pipe", -errno);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid == 0) {
		char rs[16], os[24], kp[24], hp[24];
		snprintf(rs, sizeof(rs), "%d", rounds);
		snprintf(os, sizeof(os), "%ld", ops);
		snprintf(kp, sizeof(kp), "%ld", view_at);
		snprintf(hp, sizeof(hp), "%ld", heap_pad);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl("/proc/self/exe", argv[0], use_fds ? "--child-fds" : "--child", target, "--rounds",
		      rs, "--ops", os, "--view-at", kp, "--heap-pad", hp, fenced ? "--fenced" : "--fenceless",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	ssize_t got = read(pfd[0], &res, sizeof(res));
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	if (got != (ssize_t)sizeof(res) || !WIFEXITED(st) || WEXITSTATUS(st))
		die("reader process", -EIO);
	return res;
}

static void print_one(int proc, const char *mode, const struct one *o)
{
	printf("%4d %-9s %7.2f %5.2f", proc, mode, o->med, o->ref);
	for (int k = 0; k < NA; k++)
		printf(" %03" PRIxPTR ":%-2u", o->a[k] & 4095, (unsigned)((o->a[k] & 4095) >> 6));
	print_aliases(o);
	printf("\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "procs", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "fds", no_argument, NULL, 'f' },
		{ "stack-step", required_argument, NULL, 'k' },
		{ "heap-step", required_argument, NULL, 'h' },
		{ "child", required_argument, NULL, 'c' },
		{ "child-fds", required_argument, NULL, 'F' },
		{ "view-at", required_argument, NULL, 'K' },
		{ "heap-pad", required_argument, NULL, 'H' },
		{ "fenced", no_argument, NULL, 'M' },
		{ "fenceless", no_argument, NULL, 'm' },
		{ "walk", required_argument, NULL, 'w' },
		{ 0 },
	};
	int procs = 20, rounds = 11, use_fds = 0;
	bool fenced = false;
	long ops = 1000000, stack_step = 0, heap_step = 0, view_at = -1, heap_pad = 0;
	size_t size = 36;
	const char *child_sock = NULL, *child_fds = NULL, *walk_what = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': procs = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'o': ops = atol(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'f': use_fds = 1; break;
		case 'k': stack_step = atol(optarg); break;
		case 'h': heap_step = atol(optarg); break;
		case 'c': child_sock = optarg; break;
		case 'F': child_fds = optarg; break;
		case 'K': view_at = atol(optarg); break;
		case 'H': heap_pad = atol(optarg); break;
		case 'M': fenced = true; break;
		case 'm': fenced = false; break;
		case 'w': walk_what = optarg; break;
		default:
			fprintf(stderr, "usage: mmsync-bench-read-spread [--procs N] [--rounds N] [--ops N] "
					"[--size BYTES] [--fds] [--stack-step BYTES] [--heap-step BYTES] "
					"[--walk view|handle]\n");
			return 2;
		}
	}
	if (procs < 1 || rounds < 1 || ops < 1 || size < 1 || stack_step < 0 || stack_step % 16 || heap_step < 0 ||
	    (walk_what && strcmp(walk_what, "view") && strcmp(walk_what, "handle"))) {
		fprintf(stderr, "mmsync-bench-read-spread: counts must be positive, --stack-step a "
				"multiple of 16\n");
		return 2;
	}
	if (child_sock || child_fds)
		return child(child_sock, child_fds, fenced, rounds, ops, view_at, heap_pad, 1);

	char sock[64];
	snprintf(sock, sizeof(sock), "@mmsync-read-spread-%d", (int)getpid());
	MMSYNC_OPTS(mmsync_native_opts, no, .capacity = size > 4096 ? size : 4096);
	MMSYNC_OPTS(mmsync_listen_opts, so, .flags = MMSYNC_LISTEN_SERVE);
	struct mmsync_writer *w;
	int err;
	if ((err = mmsync_writer_create(&w, run_name("spread"), &no)) ||
	    (err = mmsync_writer_listen(w, sock, &so)))
		die("native writer", err);
	char *payload = malloc(size);
	if (!payload)
		die("payload", -ENOMEM);
	memset(payload, 'x', size);
	if ((err = mmsync_write(w, payload, size, 1000000000ull, NULL)))
		die("write", err);
	if (walk_what) {
		walk(w, sock, !strcmp(walk_what, "handle"), rounds, ops);
		free(payload);
		mmsync_writer_close(w);
		return 0;
	}
	char fdarg[64] = "";
	if (use_fds) {
		int fds[MMSYNC_NR_FDS];
		if ((err = mmsync_writer_export_fds(w, fds)))
			die("export_fds", err);
		for (int i = 0; i < MMSYNC_NR_FDS; i++)
			fcntl(fds[i], F_SETFD, 0); /* inherited by the readers */
		snprintf(fdarg, sizeof(fdarg), "%d,%d,%d,%d", fds[0], fds[1], fds[2], fds[3]);
	}

	printf("%d processes, %d rounds of %ld reads of %zu bytes, %s, stack step %ld, heap step %ld;\n"
	       "per reader the median ns of a read, of the reference, and offset:line of\n",
	       procs, rounds, ops, size, use_fds ? "readers from exported descriptors" : "socket readers",
	       stack_step, heap_step);
	printf("%4s %-9s %7s %5s", "proc", "reader", "ns", "ref");
	for (int k = 0; k < NA; k++)
		printf(" %-6s", aname[k]);
	printf(" alias\n");
	fflush(stdout);

	double med[2][procs], ref[2][procs];
	for (int p = 0; p < procs; p++) {
		for (int m = 0; m < 2; m++) {
			struct one res = run_child(argv, use_fds ? fdarg : sock, use_fds, m, rounds, ops,
						   stack_step ? (stack_step * p) & 4095 : -1, heap_step * p);
			print_one(p, m ? "fenced" : "fenceless", &res);
			fflush(stdout);
			med[m][p] = res.med;
			ref[m][p] = res.ref;
		}
	}
	for (int m = 0; m < 2; m++) {
		struct fig fg = summarize(med[m], procs), fr = summarize(ref[m], procs);
		printf("%s: min %.2f median %.2f max %.2f ns over %d processes' medians "
		       "(ref %.2f %.2f %.2f)\n",
		       m ? "fenced" : "fenceless", fg.min, fg.med, fg.max, procs, fr.min, fr.med, fr.max);
	}
	free(payload);
	mmsync_writer_close(w);
	return 0;
}
