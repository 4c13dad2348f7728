/* SPDX-License-Identifier: MIT */
/* The native layout's reading subcommands: read --socket (once, or --watch
 * sleeping on the reader's descriptor),
 * stat --socket from a served writer, and stat --all from the pinned figures. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mmsync.h"
#include "cli.h"

/* Connects; on failure says why, a timeout in the terms of what to check. */
int connect_reader(const char *sock, const struct mmsync_reader_opts *o,
			  struct mmsync_reader **r)
{
	int err = mmsync_reader_connect(r, sock, o);
	if (err == -ETIMEDOUT) {
		fprintf(stderr,
			"mmsync: %s: the writer accepted no connection in time: does it call "
			"mmsync_writer_dispatch() or run the service thread (MMSYNC_LISTEN_SERVE)?\n",
			sock);
		return 1;
	}
	/* The library says "no writer" for a path where nothing is: say
	 * whether the socket or its directory is what is missing. */
	struct stat st;
	if (err == -ECONNREFUSED && sock[0] != '@' && lstat(sock, &st) && errno == ENOENT)
		err = -ENOENT;
	if (err == -ECONNREFUSED && sock[0] == '@') {
		fprintf(stderr, "mmsync: %s: %s (an abstract socket is reachable only in the writer's "
				"network namespace: a sandboxed reader needs a path socket)\n", sock,
			mmsync_strerror(err));
		return 1;
	}
	return err ? fail_path(sock, err, "no socket at this path: is the writer serving it?") : 0;
}

int cmd_read(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "watch", no_argument, NULL, 'w' },
		{ "trust", required_argument, NULL, 't' },
		{ "any-writer", no_argument, NULL, 'a' },
		{ 0 },
	};
	MMSYNC_OPTS(mmsync_reader_opts, o);
	const char *sock = NULL;
	bool watch = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'w': watch = true; break;
		case 't':
			if (parse_user(optarg, &o.trust_uid))
				return usage("--trust takes a user name or a uid");
			break;
		case 'a': o.flags |= MMSYNC_ANY_WRITER; break;
		default: return usage(NULL);
		}
	}
	if (!sock || optind != argc)
		return usage("read takes --socket PATH");

	struct mmsync_reader *r;
	struct mmsync_view v;
	int err, rc;
	if ((rc = connect_reader(sock, &o, &r)))
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

	/* Sleeps in poll(2) on the reader's descriptor: an idle watcher makes
	 * no other system call. A wake-up that brings nothing new is a
	 * spurious one, or the writer's hang-up: mmsync_wait(r, 0) tells. */
	catch_signals();
	int fd = mmsync_reader_fd(r);
	if (fd < 0) {
		mmsync_reader_close(r);
		return fail(sock, fd);
	}
	while (!stop) {
		bool fresh = false;
		err = mmsync_read_begin(r, &v);
		if (err && err != -ENODATA) {
			rc = fail(sock, err);
			break;
		}
		if (!err) {
			fresh = v.switched;
			uint64_t seq = v.seq, h = fresh ? XXH3_64bits(v.data, v.len) : 0;
			size_t len = v.len;
			if (mmsync_read_end(r, &v) == -ESTALE)
				continue; /* evicted while hashing: read it again */
			if (fresh) {
				printf("seq=%" PRIu64 " bytes=%zu xxh3=%016" PRIx64 "\n", seq, len, h);
				fflush(stdout);
			}
		}
		err = fresh ? 0 : mmsync_wait(r, 0);
		if (err == -EPIPE) {
			/* The writer has gone: wait for one to serve the socket again. */
			fprintf(stderr, "mmsync: %s: the writer has gone; waiting for a new one\n", sock);
			mmsync_reader_close(r);
			r = NULL;
			while (!stop && mmsync_reader_connect(&r, sock, &o))
				usleep(100000);
			if (!r || (fd = mmsync_reader_fd(r)) < 0)
				break;
			fprintf(stderr, "mmsync: %s: reconnected\n", sock);
			continue;
		}
		if (err && err != -ETIMEDOUT) {
			rc = fail(sock, err);
			break;
		}
		if (err == 0 && !fresh)
			continue; /* a version came meanwhile */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, -1); /* -EINTR: SIGINT or SIGTERM, seen at the loop's test */
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
	case STAT_JSON: /* no newline: stat --all puts objects in an array */
		/* 64-bit words that may pass 2^53 also as strings (KEY_str):
		 * JSON readers that hold numbers in doubles (jq) round them. */
		printf("{\"name\": \"%s\", \"seq\": %" PRIu64 ", \"version\": %" PRIu64
		       ", \"version_str\": \"%" PRIu64 "\", \"idx\": %u"
		       ", \"size\": %" PRIu64 ", \"generation\": %" PRIu64 ", \"capacity\": %" PRIu64
		       ", \"readers\": [%" PRIu32 ", %" PRIu32 "], \"live_slots\": %" PRIu32
		       ", \"evictions\": %" PRIu64 ", \"reclaimed\": %" PRIu64
		       ", \"disconnects\": %" PRIu64 "}",
		       st->name, st->seq, st->version, st->version, st->idx, st->size, st->generation,
		       st->capacity, st->readers[0], st->readers[1], st->live_slots, st->evictions,
		       st->reclaimed, st->disconnects);
		break;
	default:
		printf("name: %s\n", st->name);
		if (st->writer_pid > 0 && (kill(st->writer_pid, 0) == 0 || errno == EPERM))
			printf("writer: pid %d\n", st->writer_pid);
		else
			printf("writer: gone (these are its last figures)\n");
		printf("seq: %" PRIu64 "\nversion: %" PRIu64 "\nidx: %u\nsize: %" PRIu64
		       "\ngeneration: %" PRIu64 "\ncapacity: %" PRIu64 "\nreaders: %" PRIu32 " %" PRIu32
		       "\nlive_slots: %" PRIu32 "\nevictions: %" PRIu64 "\nreclaimed: %" PRIu64
		       "\ndisconnects: %" PRIu64 "\n",
		       st->seq, st->version, st->idx, st->size, st->generation, st->capacity,
		       st->readers[0], st->readers[1], st->live_slots, st->evictions, st->reclaimed,
		       st->disconnects);
	}
	return 0;
}

int stat_socket(const char *path, const struct mmsync_reader_opts *o, enum stat_format fmt)
{
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	int rc = connect_reader(path, o, &r);
	if (rc)
		return rc;
	int err = mmsync_reader_stat(r, &st);
	mmsync_reader_close(r);
	if (err)
		return fail(path, err);
	int rc2 = print_native_stat(&st, fmt, path);
	if (fmt == STAT_JSON)
		putchar('\n');
	return rc2;
}

/* Every segment pinned under /sys/fs/bpf/mmsync/, read from its pin. */
int stat_all(enum stat_format fmt)
{
	const char *root = "/sys/fs/bpf/mmsync";
	struct dirent **names;
	int n, rc = 0;
	size_t count = 0;

	/* A library without BPF reads no pins: say so, rather than "none". */
	if (mmsync_stat_pinned(NULL, NULL) == -ENOSYS) {
		fprintf(stderr, "mmsync: stat --all: this libmmsync was built without BPF (meson option "
				"bpf); stat --socket PATH asks a writer\n");
		return 1;
	}
	n = scandir(root, &names, NULL, alphasort);
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
	} else if (fmt == STAT_JSON) { /* one document: an array, [] for none */
		putchar('[');
		for (size_t i = 0; i < count; i++) {
			fputs(i ? ",\n " : "", stdout);
			rc |= print_native_stat(&st[i], fmt, st[i].name);
		}
		puts("]");
	} else {
		for (size_t i = 0; i < count; i++) {
			if (i)
				putchar('\n');
			rc |= print_native_stat(&st[i], fmt, st[i].name);
		}
		if (!count && fmt == STAT_TEXT)
			fprintf(stderr, "mmsync: no pinned segment under %s\n", root);
	}
	free(st);
	return rc;
}
