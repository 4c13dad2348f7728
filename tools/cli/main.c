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
#include <sys/stat.h>
#include <unistd.h>

#include "mmsync.h"
#include "cli.h"
#include "cli_config.h"

/* Each subcommand's usage: `mmsync CMD --help` prints its own, `mmsync
 * --help` all of them. */
static const struct command_usage {
	const char *name;
	const char *text;
} usages[] = {
	{ "put",
	  "usage: mmsync put PREFIX [FILE|-] [--grace-ms N] [--single-writer] [--no-reset]\n"
	  "                  [--trust USER]\n"
	  "  Publish FILE (or standard input) as the new version of the compat segment\n"
	  "  at PREFIX; prints \"written: N bytes | reset: BOOL\".\n"
	  "  --grace-ms N     readers still on the copy after N ms [1000] have their\n"
	  "                   count reset (0: no grace, reset at once)\n"
	  "  --single-writer  hold an exclusive lock on the state file while writing\n"
	  "  --no-reset       never reset a reader's count: the put fails instead and\n"
	  "                   publishes nothing\n"
	  "  --trust USER     also use files owned by USER (a name or a uid)\n"
	  "  On a terminal, a put of 16 MiB or more shows its progress on stderr.\n" },
	{ "cat",
	  "usage: mmsync cat PREFIX [--trust USER]\n"
	  "  Write the current version of the compat segment at PREFIX to standard\n"
	  "  output, byte for byte.\n" },
	{ "stat",
	  "usage: mmsync stat PREFIX [--json] [--trust USER]\n"
	  "       mmsync stat --socket PATH [--json|--prom] [--trust USER] [--any-writer]\n"
	  "       mmsync stat --all [--json|--prom] [--output FILE]\n"
	  "  PREFIX: the version word, copy index, size, checksum and readers of a\n"
	  "  compat segment. --socket: a served native segment's figures, read through\n"
	  "  a reader's connection (that reader, the asker, is counted in live_slots).\n"
	  "  --all: every segment pinned under /sys/fs/bpf/mmsync/, from its pin (in\n"
	  "  a build with BPF).\n"
	  "  --json          one JSON document: an object, or with --all an array of\n"
	  "                  objects. A 64-bit word that may exceed 2^53 (\"version\")\n"
	  "                  is also given as a decimal string (\"version_str\").\n"
	  "  --prom          Prometheus text, as cat /sys/fs/bpf/mmsync/NAME/metrics\n"
	  "  --output FILE   write to FILE atomically (a temporary file in FILE's\n"
	  "                  directory, renamed over it): for node_exporter's textfile\n"
	  "                  collector\n" },
	{ "serve",
	  "usage: mmsync serve [--socket PATH] [--name NAME] [--hugetlb] [--capacity BYTES]\n"
	  "                    [--allow-uid UID]... [--allow-gid GID]... [--mode OCTAL]\n"
	  "                    [--grace-ms N] FILE\n"
	  "  Publish FILE in memfd copies served on a Unix socket, again each time FILE\n"
	  "  is rewritten or replaced, until SIGINT or SIGTERM.\n"
	  "  --socket PATH    the socket (\"@name\": abstract). Without it, the socket\n"
	  "                   systemd passes (socket activation, LISTEN_FDS): a\n"
	  "                   .socket unit with ListenSequentialPacket=\n"
	  "  --name NAME      the segment's name [FILE's base name]\n"
	  "  --capacity BYTES bytes per copy [64 MiB]; a larger FILE makes larger copies\n"
	  "  --hugetlb        copies in huge pages (needs free vm.nr_hugepages)\n"
	  "  --allow-uid UID, --allow-gid GID\n"
	  "                   peers allowed to connect [the caller's uid and root]. The\n"
	  "                   writer checks each peer (SO_PEERCRED); with an allow-list\n"
	  "                   and no --mode the socket file is made 0666, so that the\n"
	  "                   users listed can reach it\n"
	  "  --mode OCTAL     the socket file's mode [0660; 0666 with an allow-list]\n"
	  "  --grace-ms N     readers holding a view past N ms [1000] are evicted (0:\n"
	  "                   no grace, evict at once)\n"
	  "  On a terminal, a publish of 16 MiB or more (the first one before the socket\n"
	  "  is made) shows its progress on stderr.\n" },
	{ "read",
	  "usage: mmsync read --socket PATH [--watch] [--trust USER] [--any-writer]\n"
	  "  Write the served version to standard output; --watch prints seq, size\n"
	  "  and XXH3 of each new version until interrupted, asleep in between.\n"
	  "  --trust USER     also read from a writer running as USER\n"
	  "  --any-writer     read from whatever writer listens: the path is trusted\n" },
	{ "wait",
	  "usage: mmsync wait PREFIX|--socket PATH [--timeout SECONDS] [--trust USER]\n"
	  "                   [--any-writer]\n"
	  "  Exit 0 once a version newer than the current one is published, 1 when\n"
	  "  --timeout runs out first, 2 on an error (compat: seen at once from mmsync\n"
	  "  put, within 10 ms from other writers).\n" },
	{ "bench",
	  "usage: mmsync bench [--quick] [--json FILE] [--rounds N]\n"
	  "  Run the benchmark suite (mmsync-bench-suite): mmsync native and compat\n"
	  "  against LMDB, an rwlock and a seqlock. --quick: ~15 s.\n" },
};

static const char usage_trailer[] =
	"\n"
	"PREFIX names the files PREFIX_state, PREFIX_data_0 and PREFIX_data_1\n"
	"(the layout of the Rust crate mmap-sync). They are used only if they are\n"
	"regular files (no symlink) owned by the caller, root or the --trust USER\n"
	"(a name or a uid). PATH \"@name\" is an abstract socket; read and stat\n"
	"--socket read only from a writer running as the caller, root or the --trust\n"
	"USER, unless --any-writer says the path itself is trusted.\n"
	"mmsync COMMAND --help prints that command's usage; mmsync --version.\n";

static void usage_all(FILE *f)
{
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		fputs(usages[i].text, f);
	fputs(usage_trailer, f);
}

static const char *usage_of(const char *cmd)
{
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		if (!strcmp(usages[i].name, cmd))
			return usages[i].text;
	return NULL;
}

/* The subcommand being run, for usage errors: they print its usage only. */
static const char *current_cmd;

int usage(const char *why)
{
	const char *text = current_cmd ? usage_of(current_cmd) : NULL;
	if (why)
		fprintf(stderr, "mmsync: %s\n", why);
	if (text)
		fputs(text, stderr);
	else
		usage_all(stderr);
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

/* An error about PATH (a prefix or a socket) where ENOENT may mean that
 * PATH's directory is missing, which no text of the library's can say. */
int fail_path(const char *path, int err, const char *enoent)
{
	if (err != -ENOENT)
		return fail(path, err);
	char dir[4096];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
		 slash ? path : ".");
	struct stat st;
	if (path[0] != '@' && stat(dir, &st))
		fprintf(stderr, "mmsync: %s: %s: %s\n", path, dir, strerror(errno));
	else if (path[0] != '@' && !S_ISDIR(st.st_mode))
		fprintf(stderr, "mmsync: %s: %s: %s\n", path, dir, strerror(ENOTDIR));
	else
		fprintf(stderr, "mmsync: %s: %s\n", path, enoent);
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
	const char *prefix = NULL, *sock = NULL, *output = NULL;
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
		else if (!strcmp(argv[i], "--output") && i + 1 < argc)
			output = argv[++i];
		else if (!strncmp(argv[i], "--output=", 9))
			output = argv[i] + 9;
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
	if (any && !sock)
		return usage("--any-writer is for --socket");
	if (!sock && !all && !prefix)
		return usage("stat takes PREFIX");
	if (prefix && prom)
		return usage("--prom is for native segments (--socket or --all)");

	struct output out;
	int rc;
	if (output && (rc = output_begin(&out, output)))
		return rc;
	if (sock) {
		MMSYNC_OPTS(mmsync_reader_opts, o, .trust_uid = trust,
			    .flags = any ? MMSYNC_ANY_WRITER : 0);
		rc = stat_socket(sock, &o, fmt);
	} else if (all) {
		rc = stat_all(fmt);
	} else {
		rc = stat_prefix(prefix, trust, fmt);
	}
	return output ? output_end(&out, rc) : rc;
}

/* The suite is a program of its own (it links LMDB, which the library and
 * this command do not need). A build tree's mmsync runs the suite built
 * beside it; an installed one, the suite installed in libexecdir/mmsync,
 * found from this program's own path (the install may be moved, or be under
 * a DESTDIR), else at the configured prefix. */
static int cmd_bench(char **argv)
{
	char self[4096], path[3][8192];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return fail_sys("bench: /proc/self/exe", -errno);
	self[n] = 0;
	char *slash = strrchr(self, '/');
	int dirlen = slash ? (int)(slash - self) : 1;
	const char *dir = slash ? self : ".";
	snprintf(path[0], sizeof(path[0]), "%.*s/mmsync-bench-suite", dirlen, dir);
	snprintf(path[1], sizeof(path[1]), "%.*s/%s/mmsync-bench-suite", dirlen, dir,
		 MMSYNC_BENCH_REL);
	snprintf(path[2], sizeof(path[2]), "%s/mmsync-bench-suite", MMSYNC_BENCH_DIR);
	argv[0] = "mmsync-bench-suite"; /* argv[1..]: bench's ARGS; NULL-terminated */
	for (int i = 0; i < 3; i++) {
		if (i == 1 && !MMSYNC_BENCH_REL[0])
			continue; /* libexecdir is not relative to bindir */
		if (access(path[i], X_OK))
			continue;
		execv(path[i], argv);
		return fail_sys(path[i], -errno);
	}
	fprintf(stderr, "mmsync: bench: no mmsync-bench-suite beside %s nor in %s\n", self,
		MMSYNC_BENCH_DIR);
	return 1;
}

/* `mmsync CMD --help` (or -h) anywhere before a "--": the usage of CMD. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
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
		const char *text = argc > 2 ? usage_of(argv[2]) : NULL;
		if (text)
			fputs(text, stdout);
		else
			usage_all(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("mmsync %s\n", MMSYNC_VERSION_STRING);
		return 0;
	}
	if (!usage_of(cmd))
		return usage("unknown command");
	current_cmd = cmd;
	if (wants_help(argc, argv)) {
		fputs(usage_of(cmd), stdout);
		return 0;
	}
	if (!strcmp(cmd, "cat"))
		return cmd_cat(argc - 1, argv + 1);
	if (!strcmp(cmd, "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argv + 1);
	argv[1] = argv[0]; /* getopt's messages then start "mmsync:" */
	if (!strcmp(cmd, "put"))
		return cmd_put(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc - 1, argv + 1);
	return cmd_read(argc - 1, argv + 1);
}
