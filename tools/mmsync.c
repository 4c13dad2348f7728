/* SPDX-License-Identifier: MIT */
/* The mmsync command: a thin layer over the public API (include/mmsync.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ctype.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mmsync.h"

static const char usage_text[] =
	"usage: mmsync put PREFIX [FILE|-] [--grace-ms N] [--single-writer] [--no-reset]\n"
	"       mmsync cat PREFIX\n"
	"       mmsync stat PREFIX [--json]\n"
	"       mmsync serve --socket PATH [--name NAME] [--hugetlb] [--capacity BYTES]\n"
	"                    [--allow-uid UID]... [--allow-gid GID]... [--grace-ms N] FILE\n"
	"       mmsync read --socket PATH [--watch]\n"
	"       mmsync stat --socket PATH [--json|--prom]\n"
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
	"         seq, size and XXH3 of each new version until interrupted\n"
	"  stat --all  every segment pinned under /sys/fs/bpf/mmsync/, from its pin;\n"
	"         --prom prints Prometheus text, as cat /sys/fs/bpf/mmsync/NAME/metrics\n"
	"  bench  run the benchmark suite (mmsync-bench-suite, beside this program):\n"
	"         mmsync native and compat against LMDB, an rwlock and a seqlock\n"
	"PREFIX names the files PREFIX_state, PREFIX_data_0 and PREFIX_data_1\n"
	"(the layout of the Rust crate mmap-sync). PATH \"@name\" is an abstract socket.\n";

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "mmsync: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "mmsync: %s: %s\n", what, mmsync_strerror(err));
	return 1;
}

/* For errors that are not the library's: a missing input file is not a
 * missing segment. */
static int fail_sys(const char *what, int err)
{
	fprintf(stderr, "mmsync: %s: %s\n", what, strerror(-err));
	return 1;
}

/* The input as one buffer: a regular file is mapped, anything else read. */
struct input {
	void *buf;
	size_t len;
	bool mapped;
};

static int input_load(const char *path, struct input *in)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	struct stat st;
	int err = 0;

	*in = (struct input){ 0 };
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			*in = (struct input){ p, (size_t)st.st_size, true };
			goto out;
		}
	}
	for (size_t cap = 0;;) {
		if (in->len == cap) {
			cap = cap ? cap * 2 : 65536;
			void *nb = realloc(in->buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			in->buf = nb;
		}
		ssize_t n = read(fd, (char *)in->buf + in->len, cap - in->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		in->len += (size_t)n;
	}
out:
	if (fd)
		close(fd);
	return err;
}

static void input_free(struct input *in)
{
	if (in->mapped)
		munmap(in->buf, in->len);
	else
		free(in->buf);
}

static int cmd_put(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "grace-ms", required_argument, NULL, 'g' },
		{ "single-writer", no_argument, NULL, 's' },
		{ "no-reset", no_argument, NULL, 'n' },
		{ 0 },
	};
	MMSYNC_OPTS(mmsync_writer_opts, opts);
	unsigned long long grace_ms = 1000;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			errno = 0;
			grace_ms = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' ||
			    grace_ms > UINT64_MAX / 1000000)
				return usage("--grace-ms takes a number of milliseconds");
			break;
		case 's':
			opts.flags |= MMSYNC_SINGLE_WRITER;
			break;
		case 'n':
			opts.flags |= MMSYNC_NO_RESET;
			break;
		default:
			return usage(NULL);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage("put takes PREFIX and an optional FILE");
	const char *prefix = argv[optind];
	const char *path = argc - optind == 2 ? argv[optind + 1] : "-";

	struct input in;
	int err = input_load(path, &in);
	if (err)
		return fail_sys(path, err);

	struct mmsync_writer *w;
	struct mmsync_write_info info;
	err = mmsync_writer_open(&w, prefix, &opts);
	if (err) {
		input_free(&in);
		return fail(prefix, err);
	}
	err = mmsync_write(w, in.buf, in.len, grace_ms * 1000000, &info);
	mmsync_writer_close(w);
	input_free(&in);
	if (err)
		return fail(prefix, err);
	printf("written: %zu bytes | reset: %s\n", info.written, info.reset ? "true" : "false");
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
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

static int cmd_cat(int argc, char **argv)
{
	if (argc != 2)
		return usage("cat takes PREFIX");
	struct mmsync_reader *r;
	struct mmsync_view v;
	int err = mmsync_reader_open(&r, argv[1], NULL);
	if (err)
		return fail(argv[1], err);
	err = mmsync_read_begin(r, &v);
	if (err) {
		mmsync_reader_close(r);
		return fail(argv[1], err);
	}
	int werr = write_all(1, v.data, v.len);
	err = mmsync_read_end(r, &v);
	mmsync_reader_close(r);
	if (werr)
		return fail_sys("standard output", werr);
	if (err)
		return fail(argv[1], err);
	return 0;
}

enum stat_format { STAT_TEXT, STAT_JSON, STAT_PROM };

static int stat_socket(const char *path, enum stat_format fmt);
static int stat_all(enum stat_format fmt);

static int cmd_stat(int argc, char **argv)
{
	bool json = false, prom = false, all = false;
	const char *prefix = NULL, *sock = NULL;

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
		else if (argv[i][0] == '-' && argv[i][1])
			return usage("stat takes PREFIX, --socket PATH or --all, and --json or --prom");
		else if (!prefix)
			prefix = argv[i];
		else
			return usage("stat takes one PREFIX");
	}
	if ((sock != NULL) + (prefix != NULL) + all > 1 || (json && prom))
		return usage("stat takes one of PREFIX, --socket PATH, --all, and --json or --prom");
	enum stat_format fmt = json ? STAT_JSON : prom ? STAT_PROM : STAT_TEXT;
	if (sock)
		return stat_socket(sock, fmt);
	if (all)
		return stat_all(fmt);
	if (!prefix)
		return usage("stat takes PREFIX");
	if (prom)
		return usage("--prom is for native segments (--socket or --all)");

	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int err = mmsync_reader_open(&r, prefix, NULL);
	if (!err)
		err = mmsync_reader_stat(r, &st);
	mmsync_reader_close(r);
	if (err)
		return fail(prefix, err);

	if (json)
		printf("{\"version\": %" PRIu64 ", \"idx\": %u, \"size\": %" PRIu64
		       ", \"checksum\": %" PRIu32 ", \"readers\": [%" PRIu32 ", %" PRIu32 "]}\n",
		       st.version, st.idx, st.size, st.checksum, st.readers[0], st.readers[1]);
	else
		printf("version: %" PRIu64 "\nidx: %u\nsize: %" PRIu64 "\nchecksum: 0x%06" PRIx32
		       "\nreaders: %" PRIu32 " %" PRIu32 "\n",
		       st.version, st.idx, st.size, st.checksum, st.readers[0], st.readers[1]);
	return 0;
}

/* ---- the native layout: serve, read, stat --socket ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || s[0] < '0' || s[0] > '9')
		return -1;
	*out = v;
	return 0;
}

/* Publishes FILE straight from its descriptor (io_uring reads into the
 * copy); a file that changes size while being read is read again. */
static int publish_file(struct mmsync_writer *w, const char *path, uint64_t grace_ns)
{
	struct mmsync_write_info info;
	struct stat st;
	int err = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail_sys(path, -errno);
	for (int tries = 0; tries < 3; tries++) {
		if (fstat(fd, &st))
			err = -errno;
		else if (!S_ISREG(st.st_mode))
			err = -EINVAL;
		else
			err = mmsync_write_from_fd(w, fd, 0, (size_t)st.st_size, grace_ns, &info);
		if (err != -ENODATA) /* -ENODATA: it shrank while we read it */
			break;
	}
	close(fd);
	if (err)
		return fail(path, err);
	printf("published seq=%" PRIu64 " bytes=%zu\n", info.seq, info.written);
	fflush(stdout);
	return 0;
}

/* True for events about FILE in its directory: rewritten (closed after
 * writing) or replaced (moved over, created). */
static bool file_event(int ino, const char *base)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && !strcmp(ev->name, base))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "allow-gid", required_argument, NULL, 'g' },
		{ "grace-ms", required_argument, NULL, 'G' },
		{ 0 },
	};
	MMSYNC_OPTS(mmsync_native_opts, nopts);
	MMSYNC_OPTS(mmsync_listen_opts, lopts);
	uid_t uids[64];
	gid_t gids[64];
	const char *sock = NULL, *name = NULL;
	uint64_t v, grace_ms = 1000;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'n': name = optarg; break;
		case 'H': nopts.flags |= MMSYNC_HUGETLB; break;
		case 'c':
			if (parse_u64(optarg, &nopts.capacity) || !nopts.capacity)
				return usage("--capacity takes a number of bytes");
			break;
		case 'u':
		case 'g':
			if (parse_u64(optarg, &v) || v > UINT32_MAX || lopts.n_allow_uids >= 64 ||
			    lopts.n_allow_gids >= 64)
				return usage("--allow-uid and --allow-gid take numeric ids (64 at most)");
			if (c == 'u')
				uids[lopts.n_allow_uids++] = (uid_t)v;
			else
				gids[lopts.n_allow_gids++] = (gid_t)v;
			break;
		case 'G':
			if (parse_u64(optarg, &grace_ms) || grace_ms > UINT64_MAX / 1000000)
				return usage("--grace-ms takes a number of milliseconds");
			break;
		default:
			return usage(NULL);
		}
	}
	if (!sock || argc - optind != 1)
		return usage("serve takes --socket PATH and FILE");
	const char *file = argv[optind];
	lopts.allow_uids = uids;
	lopts.allow_gids = gids;

	/* NAME defaults to FILE's base name, kept to the characters a name may have. */
	char namebuf[64];
	if (!name) {
		const char *b = strrchr(file, '/');
		snprintf(namebuf, sizeof(namebuf), "%s", b ? b + 1 : file);
		for (char *p = namebuf; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
				*p = '_';
		name = namebuf;
	}

	char dir[4096];
	const char *slash = strrchr(file, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) + (slash == file) : 1,
		 slash ? file : ".");
	const char *base = slash ? slash + 1 : file;
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino < 0 || inotify_add_watch(ino, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
		return fail_sys(dir, -errno);

	struct mmsync_writer *w;
	int err = mmsync_writer_create(&w, name, &nopts);
	if (err)
		return fail(name, err);
	catch_signals();
	int rc = publish_file(w, file, grace_ms * 1000000);
	if (!rc && (err = mmsync_writer_listen(w, sock, &lopts)))
		rc = fail(sock, err);
	while (!rc && !stop) {
		struct pollfd p[2] = { { mmsync_writer_fd(w), POLLIN, 0 }, { ino, POLLIN, 0 } };
		if (poll(p, 2, 100) < 0 && errno != EINTR) {
			rc = fail_sys("poll", -errno);
			break;
		}
		mmsync_writer_dispatch(w);
		if ((p[1].revents & POLLIN) && file_event(ino, base) && access(file, R_OK) == 0)
			publish_file(w, file, grace_ms * 1000000); /* a failed publish keeps the last */
	}
	mmsync_writer_close(w); /* removes the socket file */
	close(ino);
	return rc;
}

static int connect_reader(const char *sock, struct mmsync_reader **r)
{
	int err = mmsync_reader_connect(r, sock, NULL);
	return err ? fail(sock, err) : 0;
}

static int cmd_read(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "watch", no_argument, NULL, 'w' },
		{ 0 },
	};
	const char *sock = NULL;
	bool watch = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'w': watch = true; break;
		default: return usage(NULL);
		}
	}
	if (!sock || optind != argc)
		return usage("read takes --socket PATH");

	struct mmsync_reader *r;
	struct mmsync_view v;
	int err, rc;
	if ((rc = connect_reader(sock, &r)))
		return rc;
	if (!watch) {
		if ((err = mmsync_read_begin(r, &v))) {
			mmsync_reader_close(r);
			return fail(sock, err);
		}
		int werr = write_all(1, v.data, v.len);
		err = mmsync_read_end(r, &v);
		mmsync_reader_close(r);
		if (werr)
			return fail_sys("standard output", werr);
		return err ? fail(sock, err) : 0;
	}

	catch_signals();
	while (!stop) {
		if (mmsync_reader_check(r) == -EPIPE) {
			/* The writer has gone: wait for one to serve the socket again. */
			fprintf(stderr, "mmsync: %s: the writer has gone; waiting for a new one\n", sock);
			mmsync_reader_close(r);
			r = NULL;
			while (!stop && mmsync_reader_connect(&r, sock, NULL))
				usleep(100000);
			if (!r)
				break;
			fprintf(stderr, "mmsync: %s: reconnected\n", sock);
		}
		err = mmsync_read_begin(r, &v);
		if (err == -ENODATA)
			goto next;
		if (err) {
			rc = fail(sock, err);
			break;
		}
		bool fresh = v.switched;
		uint64_t seq = v.seq, h = fresh ? XXH3_64bits(v.data, v.len) : 0;
		size_t len = v.len;
		err = mmsync_read_end(r, &v);
		if (err == -ESTALE)
			continue; /* evicted while hashing: read it again */
		if (fresh) {
			printf("seq=%" PRIu64 " bytes=%zu xxh3=%016" PRIx64 "\n", seq, len, h);
			fflush(stdout);
		}
next:
		usleep(10000);
	}
	mmsync_reader_close(r);
	return rc;
}

static int print_native_stat(const struct mmsync_stat *st, enum stat_format fmt, const char *what)
{
	char text[4096];
	int n;

	switch (fmt) {
	case STAT_PROM:
		if ((n = mmsync_stat_prometheus(st, 1, text, sizeof(text))) < 0)
			return fail(what, n);
		fputs(text, stdout);
		break;
	case STAT_JSON:
		printf("{\"name\": \"%s\", \"seq\": %" PRIu64 ", \"version\": %" PRIu64 ", \"idx\": %u"
		       ", \"size\": %" PRIu64 ", \"generation\": %" PRIu64 ", \"capacity\": %" PRIu64
		       ", \"readers\": [%" PRIu32 ", %" PRIu32 "], \"live_slots\": %" PRIu32
		       ", \"evictions\": %" PRIu64 "}\n",
		       st->name, st->seq, st->version, st->idx, st->size, st->generation, st->capacity,
		       st->readers[0], st->readers[1], st->live_slots, st->evictions);
		break;
	default:
		printf("name: %s\n", st->name);
		if (st->writer_pid > 0 && (kill(st->writer_pid, 0) == 0 || errno == EPERM))
			printf("writer: pid %d\n", st->writer_pid);
		else
			printf("writer: gone (these are its last figures)\n");
		printf("seq: %" PRIu64 "\nversion: %" PRIu64 "\nidx: %u\nsize: %" PRIu64
		       "\ngeneration: %" PRIu64 "\ncapacity: %" PRIu64 "\nreaders: %" PRIu32 " %" PRIu32
		       "\nlive_slots: %" PRIu32 "\nevictions: %" PRIu64 "\n",
		       st->seq, st->version, st->idx, st->size, st->generation, st->capacity,
		       st->readers[0], st->readers[1], st->live_slots, st->evictions);
	}
	return 0;
}

static int stat_socket(const char *path, enum stat_format fmt)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int rc = connect_reader(path, &r);
	if (rc)
		return rc;
	int err = mmsync_reader_stat(r, &st);
	mmsync_reader_close(r);
	if (err)
		return fail(path, err);
	return print_native_stat(&st, fmt, path);
}

/* Every segment pinned under /sys/fs/bpf/mmsync/, read from its pin. */
static int stat_all(enum stat_format fmt)
{
	const char *root = "/sys/fs/bpf/mmsync";
	struct dirent **names;
	int n = scandir(root, &names, NULL, alphasort), rc = 0;
	size_t count = 0;

	if (n < 0) {
		if (errno != ENOENT)
			return fail_sys(root, -errno);
		n = 0; /* no writer has pinned anything yet */
	}
	struct mmsync_stat *st = calloc((size_t)n + 1, sizeof(*st));
	if (!st)
		return fail_sys(root, -ENOMEM);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		st[count].sz = sizeof(st[count]);
		int err = name[0] == '.' ? 1 : mmsync_stat_pinned(name, &st[count]);
		if (err < 0)
			rc = fail(name, err);
		else if (!err)
			count++;
		free(names[i]);
	}
	free(names);
	if (fmt == STAT_PROM) { /* one exposition: each family once, a sample per segment */
		size_t len = 2048 * (count + 1);
		char *text = malloc(len);
		int r = text ? mmsync_stat_prometheus(st, count, text, len) : -ENOMEM;
		if (r < 0)
			rc = fail(root, r);
		else
			fputs(text, stdout);
		free(text);
	} else {
		for (size_t i = 0; i < count; i++) {
			if (fmt == STAT_TEXT && i)
				putchar('\n');
			rc |= print_native_stat(&st[i], fmt, st[i].name);
		}
		if (!count && fmt == STAT_TEXT)
			fprintf(stderr, "mmsync: no pinned segment under %s\n", root);
	}
	free(st);
	return rc;
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
	if (!strcmp(cmd, "read")) {
		argv[1] = argv[0];
		return cmd_read(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argv + 1);
	return usage("unknown command");
}
