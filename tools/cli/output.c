/* SPDX-License-Identifier: MIT */
/* --output FILE: standard output goes to a temporary file in FILE's
 * directory, renamed over FILE once the command has succeeded. A reader of
 * FILE (node_exporter's textfile collector) sees the old text or the new,
 * never half of one; a failed command leaves FILE as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int output_begin(struct output *o, const char *path)
{
	const char *slash = strrchr(path, '/');
	int n = snprintf(o->tmp, sizeof(o->tmp), "%.*s.%s.XXXXXX", slash ? (int)(slash - path) + 1 : 0,
			 path, slash ? slash + 1 : path);
	if (n < 0 || (size_t)n >= sizeof(o->tmp))
		return fail_sys(path, -ENAMETOOLONG);
	o->path = path;
	fflush(stdout);
	int fd = mkstemp(o->tmp);
	if (fd < 0)
		return fail_sys(o->tmp, -errno);
	/* mkstemp makes it 0600: the collector runs as another user. */
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) || dup2(fd, 1) < 0) {
		int err = -errno;
		close(fd);
		unlink(o->tmp);
		return fail_sys(o->tmp, err);
	}
	close(fd);
	return 0;
}

int output_end(struct output *o, int rc)
{
	int err = 0;
	if (fflush(stdout) || fsync(1))
		err = -errno;
	if (!rc && err)
		rc = fail_sys(o->tmp, err);
	if (!rc && rename(o->tmp, o->path))
		rc = fail_sys(o->path, -errno);
	if (rc)
		unlink(o->tmp);
	return rc;
}
