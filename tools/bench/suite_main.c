/* SPDX-License-Identifier: MIT */
/*
 * mmsync-bench-suite: mmsync next to what people use instead of it, all in
 * one run, each contender in processes of its own: one writer process and
 * two reader processes per contender, forked at the start and driven by
 * this process through a shared control page. Medians over rounds with the
 * min..max spread, printed as tables and optionally written as JSON.
 * Figures, not assertions: the targets are reported as met or MISSED; the
 * exit status only says whether the run itself worked.
 *
 *   mmsync-bench-suite [--quick] [--json FILE] [--rounds N]
 *   mmsync bench [--quick] [--json FILE] [--rounds N]
 *
 * Contenders
 *   1. mmsync native, reader opts MMSYNC_FENCELESS   (memfd copies; the
 *   2. mmsync native, reader opts MMSYNC_FENCED       writer serves connects
 *                                                     on an abstract socket)
 *   3. mmsync compat layout, files in /dev/shm
 *   4. LMDB: the payload under one key, env on /dev/shm; a read renews a
 *      read-only transaction (mdb_txn_renew, mdb_get, mdb_txn_reset), a
 *      publish is one write transaction
 *   5. POSIX shared memory guarded by a process-shared pthread rwlock
 *   6. a seqlock over POSIX shared memory: readers copy the payload out
 *
 * Figures
 *   a. one read of a 36-byte payload, one reader process, writer idle: ns
 *   b. reads/s with 1 and with 2 reader processes reading flat out while the
 *      writer publishes 36 B 1000 times a second; scaling = 2 readers / 1
 *   c. one write of 36 B, 4 KiB, 1 MiB, 64 MiB with one idle reader
 *      connected: ns and GB/s, beside memcpy into a prefaulted buffer (and,
 *      not judged, memcpy into two buffers in turn, as a writer fills its
 *      two copies: what the double buffering alone costs)
 *   d. the writer's latency (p50, p99, max) for those 36 B writes while two
 *      readers read flat out: taken in the 2-reader phases of b, which are
 *      exactly that situation, so the run pays for them once; and beside
 *      it (full runs) the fenceless writer's membarrier alone, on the same
 *      schedule with the same two readers busy: what each such write pays
 *      for the readers' missing fence, whatever the library does
 *
 * A read is begin, touch, end: the touch loads the payload's first and last
 * bytes, which each write sets equal, so that a torn read would be seen
 * (counted, and reported if any). The seqlock's read is its copy-out, as
 * it must be: its bytes are only known good once copied and re-checked.
 *
 * Rounds of different contenders alternate within each part (rotating the
 * order), so that drift of the machine, a VM here, falls on all alike and
 * the ratios of the targets compare figures taken side by side. What it
 * cannot cancel is other load: with two CPUs and three busy processes of
 * ours in b and d, anyone else's work halves b and makes d's tails. So the
 * run ends by saying how much CPU time other processes took meanwhile.
 *
 * --quick: 3 rounds, shorter rounds and phases, under 30 s. The default
 * run (11 rounds, 1 s phases) takes about two minutes and three quarters.
 *
 * The files: suite_main.c (this one: options, the processes, the order of
 * the parts, clean-up), suite_contenders.c (each contender's open, write
 * and read; LMDB's in suite_lmdb.c, built with LMDB only), suite_child.c (a child's command loop and timed commands),
 * suite_parts.c (the parts a to d, from the parent), suite_report.c
 * (targets, tables, JSON), suite.h (what they share).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "suite.h"

const struct kind_info kinfo[NK] = {
	{ "mmsync native, fenceless", "mmsync_native_fenceless" },
	{ "mmsync native, fenced", "mmsync_native_fenced" },
	{ "mmsync compat (/dev/shm)", "mmsync_compat" },
	{ "LMDB (/dev/shm)", "lmdb" },
	{ "shm + pthread rwlock", "shm_rwlock" },
	{ "shm + seqlock", "shm_seqlock" },
};

const char *const role_name[NROLES] = { "writer", "reader 1", "reader 2" };

/* Set by SIGINT/SIGTERM in every process (the handler is inherited): the
 * children leave their loops and close their handles, so that sockets and
 * BPF pins go; the parent stops them all and removes the files. */
volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

struct shared *S;

/* Names of this run's objects (pid in each: runs do not meet). */
char compat_prefix[96], lmdb_path[96], lmdb_lock[104], shm_rw[64], shm_seq[64];
char native_name[2][64], native_sock[2][80];

/* ---- the parent: clean-up, failure, the run ---- */

static const char *json_partial;	/* the JSON file, until it is complete */
static bool cleaned;

static void cleanup(void)
{
	if (cleaned || !S)
		return;
	cleaned = true;
	/* Children still there are asked to go (SIGTERM: they close their
	 * handles), and killed if they do not within 5 s. The stop flag ends
	 * a phase of b at once, whichever thread the signal lands on. */
	atomic_store(&S->stop.v, 1);
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++)
			if (S->ctl[k][r].pid > 0)
				kill(S->ctl[k][r].pid, SIGTERM);
	uint64_t deadline = now_ns() + 5000000000ull;
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++) {
			pid_t pid = S->ctl[k][r].pid;
			if (pid <= 0)
				continue;
			while (waitpid(pid, NULL, WNOHANG) == 0) {
				if (now_ns() > deadline) {
					kill(pid, SIGKILL);
					waitpid(pid, NULL, 0);
					break;
				}
				usleep(10000);
			}
			S->ctl[k][r].pid = 0;
		}
	static const char *const suffix[] = { "_state", "_data_0", "_data_1" };
	char path[128];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", compat_prefix, suffix[i]);
		unlink(path);
	}
	unlink(lmdb_path);
	unlink(lmdb_lock);
	shm_unlink(shm_rw);
	shm_unlink(shm_seq);
	if (json_partial) /* a failed run leaves no empty or half JSON file */
		unlink(json_partial);
}

void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "\nmmsync-bench-suite: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit: children stopped, files removed */
}

static const char usage_text[] =
	"usage: mmsync-bench-suite [--quick] [--json FILE] [--rounds N]\n"
	"  mmsync native (fenceless, fenced), mmsync compat, LMDB, a shared-memory\n"
	"  pthread rwlock and a seqlock, side by side: read cost, reader scaling,\n"
	"  write cost and bandwidth, writer latency; targets reported as met/MISSED.\n"
	"  --quick     3 rounds, short phases: under 30 s (default: 11 rounds, ~2.5 min)\n"
	"  --json FILE also write the figures as JSON to FILE\n"
	"  --rounds N  rounds per figure (1..1000)\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *json = NULL;
	long rounds = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			F.quick = true;
			break;
		case 'j':
			json = optarg;
			break;
		case 'r':
			errno = 0;
			rounds = strtol(optarg, &end, 10);
			if (errno || *end || rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "mmsync-bench-suite: --rounds takes a number from 1 to %d\n",
					MAX_ROUNDS);
				return 1;
			}
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mmsync-bench-suite: unexpected argument '%s'\n", argv[optind]);
		fputs(usage_text, stderr);
		return 1;
	}
	F.rounds = rounds ? (int)rounds : F.quick ? 3 : 11;
	F.phase_s = F.quick ? 0.25 : 1.0;
	uint64_t read_round_ns = F.quick ? 5000000 : 20000000;
	uint64_t write_round_ns = F.quick ? 10000000 : 30000000;

	/* Open the JSON file first: a bad path fails now, not after minutes. */
	FILE *jf = NULL;
	if (json && !(jf = fopen(json, "we"))) {
		fprintf(stderr, "mmsync-bench-suite: %s: %s\n", json, strerror(errno));
		return 1;
	}
	json_partial = json;

	int pid = (int)getpid();
	snprintf(compat_prefix, sizeof(compat_prefix), "/dev/shm/mmsync-bench-suite-%d-compat", pid);
	snprintf(lmdb_path, sizeof(lmdb_path), "/dev/shm/mmsync-bench-suite-%d-lmdb", pid);
	snprintf(lmdb_lock, sizeof(lmdb_lock), "%s-lock", lmdb_path); /* MDB_NOSUBDIR's lock file */
	snprintf(shm_rw, sizeof(shm_rw), "/mmsync-bench-suite-%d-rwlock", pid);
	snprintf(shm_seq, sizeof(shm_seq), "/mmsync-bench-suite-%d-seqlock", pid);
	for (int i = 0; i < 2; i++) {
		snprintf(native_name[i], sizeof(native_name[i]), "bench-suite-%d-%s", pid, i ? "fenced" : "fenceless");
		snprintf(native_sock[i], sizeof(native_sock[i]), "@%s", native_name[i]);
	}

	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		S = NULL;
		fprintf(stderr, "mmsync-bench-suite: mmap: %s\n", strerror(errno));
		return 1;
	}
	atexit(cleanup);
	/* No SA_RESTART: poll(), futex() and nanosleep() return EINTR, and
	 * the loops around them look at got_signal. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint64_t t_start = now_ns();
	double busy0 = machine_busy_s(), own0 = own_cpu_s();
	printf("mmsync-bench-suite: %s run, %d rounds, %.2f s phases; %ld CPUs\n",
	       F.quick ? "quick" : "full", F.rounds, F.phase_s, sysconf(_SC_NPROCESSORS_ONLN));

	part_begin("setup: 6 writer and 12 reader processes");
	fflush(stdout); /* the children inherit stdout's buffer */
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++) {
			struct ctl *ct = &S->ctl[k][r];
			if ((ct->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
				die("eventfd: %s", strerror(errno));
			pid_t p = fork();
			if (p < 0)
				die("fork: %s", strerror(errno));
			if (p == 0)
				child_main(k, r); /* never returns */
			ct->pid = p;
		}
	for (int k = 0; k < NK; k++)
		open_role(k, WRITER);
	for (int k = 0; k < NK; k++)
		open_role(k, READER1);
	/* The baseline's buffers, made after the forks: a child sharing their
	 * pages would make the timed memcpy copy-on-write faults. */
	if (memcpy_baseline_alloc())
		die("no memory for the memcpy baseline");
	part_end();

	/* This VM hands freed memory back to the host a couple of seconds
	 * later and stalls its vCPUs meanwhile (see write_main.c): let what
	 * came before this run settle before timing. */
	if (!F.quick)
		sleep_ns(2000000000ull);

	part_begin("a. reads, one reader, writer idle");
	part_a(read_round_ns);
	part_end();

	part_begin("c. writes, one idle reader");
	part_c(write_round_ns);
	part_end();

	part_begin("b+d. 1 and 2 readers flat out, writer at 1000/s");
	for (int k = 0; k < NK; k++)
		open_role(k, READER2);
	part_bd();
	part_end();

	summarize_all();
	for (int k = 0; k < NK; k++)
		for (int r = 0; r < NROLES; r++)
			if (S->ctl[k][r].pid > 0) {
				run_cmd(k, r, CMD_EXIT, 0, 0, 0);
				waitpid(S->ctl[k][r].pid, NULL, 0);
				S->ctl[k][r].pid = 0;
			}
	F.elapsed_s = (double)(now_ns() - t_start) / 1e9;
	double busy1 = machine_busy_s();
	F.other_cpu_s = busy0 < 0 || busy1 < 0 ? -1 : (busy1 - busy0) - (own_cpu_s() - own0);
	if (F.other_cpu_s < 0 && busy0 >= 0 && busy1 >= 0)
		F.other_cpu_s = 0; /* tick granularity */
	make_targets();
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
