/* SPDX-License-Identifier: MIT */
#include "compat_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"

int compat_prefix_valid(const char *prefix)
{
	if (!prefix || !*prefix)
		return -EINVAL;
	if (strlen(prefix) + COMPAT_SUFFIX_MAX >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int compat_path(char *buf, const char *prefix, enum compat_file which)
{
	int err = compat_prefix_valid(prefix);
	if (err)
		return err;
	if (which == COMPAT_STATE)
		snprintf(buf, PATH_MAX, "%s_state", prefix);
	else
		snprintf(buf, PATH_MAX, "%s_data_%d", prefix, (int)which);
	return 0;
}

int compat_version_encode(unsigned idx, uint64_t size, uint64_t hash, uint64_t *out)
{
	if (size > MMSYNC_MAX_PAYLOAD)
		return -EMSGSIZE;
	*out = (uint64_t)(idx & 1) | size << 1 | (hash & 0xffffff) << 40;
	return 0;
}

int compat_state_check(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(struct compat_state))
		return -EBADMSG;
	return 0;
}

int compat_data_check(int fd, uint64_t size, uint64_t *file_size, uint64_t *allocated)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
		return -EBADMSG;
	*file_size = (uint64_t)st.st_size;
	*allocated = (uint64_t)st.st_blocks * 512;
	return 0;
}

int compat_open(const char *path, int flags, mode_t mode, const struct compat_trust *t)
{
	int fd = fd_above_stdio(open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode));
	struct stat st;

	if (fd == -ELOOP) {
		log_msg(&t->log, "%s is a symbolic link: refused", path);
		return fd;
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = 0;
	if (!S_ISREG(st.st_mode)) {
		log_msg(&t->log, "%s is not a regular file: refused", path);
		err = -EINVAL;
	} else if (st.st_uid != geteuid() && st.st_uid != 0 && st.st_uid != t->uid) {
		log_msg(&t->log, "%s belongs to uid %u, not to this process's uid %u, root or the "
			"trusted uid: refused", path, (unsigned)st.st_uid, (unsigned)geteuid());
		err = -EPERM;
	} else if (st.st_nlink != 1) {
		log_msg(&t->log, "%s has %u links: refused", path, (unsigned)st.st_nlink);
		err = -EPERM;
	}
	if (err) {
		close(fd);
		return err;
	}
	/* Back to blocking: reads of a regular file do not block anyway, but
	 * the caller gets the descriptor as it asked for it. */
	fcntl(fd, F_SETFL, flags & O_NONBLOCK);
	return fd;
}
