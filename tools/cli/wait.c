/* SPDX-License-Identifier: MIT */
/* mmsync wait: exits when a version newer than the one there at its start
 * is published, for shell scripts and systemd units (mmsync_wait()). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mmsync.h"
#include "cli.h"

/* Exit codes: a new version, the time ran out, anything else. */
enum { WAIT_NEW = 0, WAIT_TIMEOUT = 1, WAIT_ERROR = 2 };

int cmd_wait(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "trust", required_argument, NULL, 't' },
		{ "any-writer", no_argument, NULL, 'a' },
		{ 0 },
	};
	MMSYNC_OPTS(mmsync_reader_opts, o);
	const char *sock = NULL, *prefix = NULL;
	uint64_t timeout_ns = UINT64_MAX;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'T': {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || end == optarg || !(s >= 0) || s > 1e9)
				return usage("--timeout takes seconds (0.5, 30, ...)");
			timeout_ns = (uint64_t)(s * 1e9 + 0.5);
			break;
		}
		case 't':
			if (parse_user(optarg, &o.trust_uid))
				return usage("--trust takes a user name or a uid");
			break;
		case 'a': o.flags |= MMSYNC_ANY_WRITER; break;
		default: return usage(NULL);
		}
	}
	if (optind < argc)
		prefix = argv[optind++];
	if ((!sock == !prefix) || optind != argc)
		return usage("wait takes PREFIX or --socket PATH");
	if (prefix && (o.flags & MMSYNC_ANY_WRITER))
		return usage("--any-writer is for --socket");

	struct mmsync_reader *r;
	int err;
	const char *what = sock ? sock : prefix;
	if (sock) {
		if (connect_reader(sock, &o, &r))
			return WAIT_ERROR;
	} else if ((err = mmsync_reader_open(&r, prefix, &o))) {
		fail(prefix, err);
		return WAIT_ERROR;
	}
	/* What is there now is not new: read it once, so that the wait is for
	 * the next one. Nothing there yet (no files, nothing published): the
	 * first publish is new. */
	struct mmsync_view v;
	err = mmsync_read_begin(r, &v);
	if (!err)
		err = mmsync_read_end(r, &v);
	if (err && err != -ENODATA && err != -ENOENT && err != -ESTALE) {
		mmsync_reader_close(r);
		fail(what, err);
		return WAIT_ERROR;
	}
	err = mmsync_wait(r, timeout_ns);
	mmsync_reader_close(r);
	if (err == -ETIMEDOUT)
		return WAIT_TIMEOUT;
	if (err) {
		fail(what, err);
		return WAIT_ERROR;
	}
	return WAIT_NEW;
}
