/* SPDX-License-Identifier: MIT */
/* The compat layout's subcommands, on the files PREFIX_state, PREFIX_data_0
 * and PREFIX_data_1 of mmap-sync: put, cat and stat PREFIX. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmsync.h"
#include "cli.h"

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
			free(in->buf);
			*in = (struct input){ 0 };
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

/* The payload copied into the copy in chunks, so that a terminal sees how
 * far it got; then published as mmsync_write() would. */
static int put_chunked(struct mmsync_writer *w, const struct input *in, uint64_t grace_ns,
		       struct mmsync_write_info *info, struct progress *pg)
{
	void *ptr;
	int err = mmsync_write_begin(w, in->len, grace_ns, &ptr);
	if (err)
		return err;
	for (size_t done = 0; done < in->len;) {
		size_t n = in->len - done < PROGRESS_CHUNK ? in->len - done : PROGRESS_CHUNK;
		memcpy((char *)ptr + done, (const char *)in->buf + done, n);
		done += n;
		progress_update(pg, done);
	}
	return mmsync_write_commit(w, in->len, info);
}

int cmd_put(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "grace-ms", required_argument, NULL, 'g' },
		{ "single-writer", no_argument, NULL, 's' },
		{ "no-reset", no_argument, NULL, 'n' },
		{ "trust", required_argument, NULL, 't' },
		{ 0 },
	};
	/* A put is one publish: waking `mmsync wait` and mmsync_wait() at once
	 * costs it one system call. */
	MMSYNC_OPTS(mmsync_writer_opts, opts, .flags = MMSYNC_WAKE_WAITERS);
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
		case 't':
			if (parse_user(optarg, &opts.trust_uid))
				return usage("--trust takes a user name or a uid");
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
		return fail_path(prefix, err, mmsync_strerror(err));
	}
	struct progress pg;
	progress_begin(&pg, "put", in.len);
	if (pg.on)
		err = put_chunked(w, &in, grace_ms * 1000000, &info, &pg);
	else
		err = mmsync_write(w, in.buf, in.len, grace_ms * 1000000, &info);
	progress_end(&pg);
	mmsync_writer_close(w);
	input_free(&in);
	if (err)
		return fail_path(prefix, err, mmsync_strerror(err));
	printf("written: %zu bytes | reset: %s\n", info.written, info.reset ? "true" : "false");
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	MMSYNC_OPTS(mmsync_reader_opts, opts);
	const char *prefix = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--trust") && i + 1 < argc) {
			if (parse_user(argv[++i], &opts.trust_uid))
				return usage("--trust takes a user name or a uid");
		} else if ((argv[i][0] == '-' && argv[i][1]) || prefix) {
			return usage("cat takes PREFIX and --trust USER");
		} else {
			prefix = argv[i];
		}
	}
	if (!prefix)
		return usage("cat takes PREFIX");
	struct mmsync_reader *r;
	struct mmsync_view v;
	int err = mmsync_reader_open(&r, prefix, &opts);
	if (err)
		return fail(prefix, err);
	err = mmsync_read_begin(r, &v);
	if (err) {
		mmsync_reader_close(r);
		return fail_path(prefix, err, mmsync_strerror(err));
	}
	int werr = write_all(1, v.data, v.len);
	err = mmsync_read_end(r, &v);
	mmsync_reader_close(r);
	if (werr)
		return fail_sys("standard output", werr);
	if (err)
		return fail(prefix, err);
	return 0;
}

int stat_prefix(const char *prefix, uid_t trust, enum stat_format fmt)
{
	bool json = fmt == STAT_JSON;
	struct mmsync_reader *r;
	struct mmsync_stat st = { .sz = sizeof(st) };
	MMSYNC_OPTS(mmsync_reader_opts, opts, .trust_uid = trust);
	int err = mmsync_reader_open(&r, prefix, &opts);
	if (!err)
		err = mmsync_reader_stat(r, &st);
	mmsync_reader_close(r);
	if (err)
		return fail_path(prefix, err, mmsync_strerror(err));

	/* The version word as a number and as a string: JSON readers that
	 * hold numbers in doubles (jq) round it past 2^53. */
	if (json)
		printf("{\"version\": %" PRIu64 ", \"version_str\": \"%" PRIu64 "\", \"idx\": %u"
		       ", \"size\": %" PRIu64 ", \"checksum\": %" PRIu32 ", \"readers\": [%" PRIu32
		       ", %" PRIu32 "]}\n",
		       st.version, st.version, st.idx, st.size, st.checksum, st.readers[0],
		       st.readers[1]);
	else
		printf("version: %" PRIu64 "\nidx: %u\nsize: %" PRIu64 "\nchecksum: 0x%06" PRIx32
		       "\nreaders: %" PRIu32 " %" PRIu32 "\n",
		       st.version, st.idx, st.size, st.checksum, st.readers[0], st.readers[1]);
	return 0;
}
