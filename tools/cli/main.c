/* SPDX-License-Identifier: MIT */
/* The mmsync command: a thin layer over the public API (include/mmsync.h).
 * This file dispatches to the subcommands, prints usage and errors, parses
 * the options of stat, and holds the helpers the others share (cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmsync.h"
#include "cli.h"

static const char usage_text[] =
	"usage: mmsync put PREFIX [FILE|-] [--grace-ms N] [--single-writer] [--no-reset]\n"
	"                  [--trust USER]\n"
	"       mmsync cat PREFIX [--trust USER]\n"
	"       mmsync stat PREFIX [--json] [--trust USER]\n"
	"       mmsync serve --socket PATH [--name NAME] [--hugetlb] [--capacity BYTES]\n"
	"                    [--allow-uid UID]... [--allow-gid GID]... [--grace-ms N] FILE\n"
	"       mmsync read --socket PATH [--watch] [--trust USER] [--any-writer]\n"
	"       mmsync stat --socket PATH [--json|--prom] [--trust USER] [--any-writer]\n"
	"       mmsync wait PREFIX|--socket PATH [--timeout SECONDS] [--trust USER]\n"
	"                   [--any-writer]\n"
	"       mmsync stat --all [--json|--prom]\n"
	"       mmsync bench [--quick] [--json FILE] [--rounds N]\n"
	"\n"
	"  put    publish FILE (or standard input) as the new version; readers still\n"
	"         on the copy after --grace-ms [1000] have their count reset (0: no\n"
	"         grace, reset at once), or with --no-reset the put fails and\n"
	"         publishes nothing\n"
	"  cat    write the current version to standard output\n"
	"  stat   print the version word, copy index, size, checksum and readers\n"
	"  serve  publish FILE in memfd copies served on a Unix socket, again each\n"
	"         time FILE is rewritten or replaced, until SIGINT or SIGTERM\n"
	"         (readers holding a view past --grace-ms [1000] are evicted; 0: no\n"
	"         grace, evict at once)\n"
	"  read   write the served version to standard output; --watch prints\n"
	"         seq, size and XXH3 of each new version until interrupted,\n"
	"         sleeping between versions\n"
	"  wait   exit 0 once a version newer than the current one is published,\n"
	"         1 when --timeout runs out first, 2 on an error (compat: seen at\n"
	"         once from mmsync put, within 10 ms from other writers)\n"
	"  stat --all  every segment pinned under /sys/fs/bpf/mmsync/, from its pin;\n"
	"         --prom prints Prometheus text, as cat /sys/fs/bpf/mmsync/NAME/metrics\n"
	"         (in a build with BPF: meson -Dbpf)\n"
	"  bench  run the benchmark suite (mmsync-bench-suite, beside this program):\n"
	"         mmsync native and compat against LMDB, an rwlock and a seqlock\n"
	"PREFIX names the files PREFIX_state, PREFIX_data_0 and PREFIX_data_1\n"
	"(the layout of the Rust crate mmap-sync). They are used only if they are\n"
	"regular files (no symlink) owned by the caller, root or the --trust USER\n"
	"(a name or a uid). PATH \"@name\" is an abstract socket; read and stat\n"
	"--socket read only from a writer running as the caller, root or the --trust\n"
	"USER, unless --any-writer says the path itself is trusted.\n";

int usage(const char *why)
{
	if (why)
		fprintf(stderr, "mmsync: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

int fail(const char *what, int err)
{
	fprintf(stderr, "mmsync: %s: %s\n", what, mmsync_strerror(err));
	return 1;
}

/* For errors that are not the library's: a missing input file is not a
 * missing segment. */
int fail_sys(const char *what, int err)
{
	fprintf(stderr, "mmsync: %s: %s\n", what, strerror(-err));
	return 1;
}

int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || s[0] < '0' || s[0] > '9')
		return -1;
	*out = v;
	return 0;
}

/* A user name or a numeric uid. */
int parse_user(const char *s, uid_t *out)
{
	uint64_t v;
	if (!parse_u64(s, &v)) {
		if (v >= (uid_t)-1)
			return -1;
		*out = (uid_t)v;
		return 0;
	}
	struct passwd *pw = getpwnam(s);
	if (!pw)
		return -1;
	*out = pw->pw_uid;
	return 0;
}

/* Set by SIGINT or SIGTERM: serve and read --watch stop at it. */
volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* stat's options pick the family: PREFIX (compat.c), --socket or --all
 * (native.c). */
static int cmd_stat(int argc, char **argv)
{
	bool json = false, prom = false, all = false, any = false;
	const char *prefix = NULL, *sock = NULL;
	uid_t trust = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--prom"))
			prom = true;
		else if (!strcmp(argv[i], "--all"))
			all = true;
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strncmp(argv[i], "--socket=", 9))
			sock = argv[i] + 9;
		else if (!strcmp(argv[i], "--any-writer"))
			any = true;
		else if (!strcmp(argv[i], "--trust") && i + 1 < argc) {
			if (parse_user(argv[++i], &trust))
				return usage("--trust takes a user name or a uid");
		} else if (argv[i][0] == '-' && argv[i][1])
			return usage("stat takes PREFIX, --socket PATH or --all, and --json or --prom");
		else if (!prefix)
			prefix = argv[i];
		else
			return usage("stat takes one PREFIX");
	}
	if ((sock != NULL) + (prefix != NULL) + all > 1 || (json && prom))
		return usage("stat takes one of PREFIX, --socket PATH, --all, and --json or --prom");
	enum stat_format fmt = json ? STAT_JSON : prom ? STAT_PROM : STAT_TEXT;
	if (sock) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .trust_uid = trust,
			    .flags = any ? MMSYNC_ANY_WRITER : 0);
		return stat_socket(sock, &o, fmt);
	}
	if (any)
		return usage("--any-writer is for --socket");
	if (all)
		return stat_all(fmt);
	if (!prefix)
		return usage("stat takes PREFIX");
	if (prom)
		return usage("--prom is for native segments (--socket or --all)");
	return stat_prefix(prefix, trust, fmt);
}

/* The suite is a program of its own (it links LMDB, which the library and
 * this command do not need): run the one built beside this binary, so that
 * a build tree's mmsync runs that tree's suite, whatever PATH says. */
static int cmd_bench(char **argv)
{
	char self[4096], path[4096 + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return fail_sys("bench: /proc/self/exe", -errno);
	self[n] = 0;
	char *slash = strrchr(self, '/');
	snprintf(path, sizeof(path), "%.*s/mmsync-bench-suite", slash ? (int)(slash - self) : 1,
		 slash ? self : ".");
	if (access(path, X_OK)) {
		fprintf(stderr, "mmsync: bench: %s: %s\n"
			"mmsync: bench: the suite is built beside mmsync in the build tree "
			"(ninja -C build), not installed\n", path, strerror(errno));
		return 1;
	}
	argv[0] = "mmsync-bench-suite"; /* argv[1..]: bench's ARGS; NULL-terminated */
	execv(path, argv);
	return fail_sys(path, -errno);
}

int main(int argc, char **argv)
{
	/* Descriptors 0-2 closed by the caller are opened on /dev/null first:
	 * otherwise the first file opened would be one of them, and what is
	 * printed would go into it. */
	int fd;
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);

	if (argc < 2)
		return usage(NULL);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "put")) {
		argv[1] = argv[0]; /* getopt's messages then start "mmsync:" */
		return cmd_put(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "cat"))
		return cmd_cat(argc - 1, argv + 1);
	if (!strcmp(cmd, "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve")) {
		argv[1] = argv[0];
		return cmd_serve(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "wait")) {
		argv[1] = argv[0];
		return cmd_wait(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "read")) {
		argv[1] = argv[0];
		return cmd_read(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argv + 1);
	return usage("unknown command");
}
