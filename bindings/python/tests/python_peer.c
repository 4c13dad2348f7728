/* SPDX-License-Identifier: MIT */
/*
 * A C reader for the binding's interop tests: reads a segment (a compat
 * prefix, or a native socket with --socket) with the public API and prints
 * one line per version it reads, "seq version size xxh64", until it has
 * read COUNT versions or the writer has gone.
 *
 *   python_peer PREFIX|--socket PATH COUNT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <mmsync.h>

int main(int argc, char **argv)
{
	struct mmsync_reader *r;
	bool native = argc == 4 && !strcmp(argv[1], "--socket");
	if (argc != 3 && !native) {
		fprintf(stderr, "usage: python_peer PREFIX|--socket PATH COUNT\n");
		return 2;
	}
	long count = atol(argv[argc - 1]);
	int err = native ? mmsync_reader_connect(&r, argv[2], NULL)
			 : mmsync_reader_open(&r, argv[1], NULL);
	if (err) {
		fprintf(stderr, "python_peer: %s\n", mmsync_strerror(err));
		return 1;
	}
	for (long n = 0; n < count;) {
		err = mmsync_wait(r, 10ull * 1000000000u);
		if (err) {
			fprintf(stderr, "python_peer: wait: %s\n", mmsync_strerror(err));
			return 1;
		}
		struct mmsync_view v;
		if ((err = mmsync_read_begin(r, &v))) {
			fprintf(stderr, "python_peer: read: %s\n", mmsync_strerror(err));
			return 1;
		}
		uint64_t h = XXH64(v.data, v.len, 0);
		bool switched = v.switched;
		uint64_t seq = v.seq, version = v.version;
		size_t len = v.len;
		if ((err = mmsync_read_end(r, &v))) {
			fprintf(stderr, "python_peer: read end: %s\n", mmsync_strerror(err));
			return 1;
		}
		if (switched) {
			printf("%" PRIu64 " %" PRIu64 " %zu %016" PRIx64 "\n", seq, version, len, h);
			fflush(stdout);
			n++;
		}
	}
	mmsync_reader_close(r);
	return 0;
}
