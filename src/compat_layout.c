/* SPDX-License-Identifier: MIT */
#include "compat_layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int compat_data_check(int fd, uint64_t size, uint64_t *file_size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
		return -EBADMSG;
	*file_size = (uint64_t)st.st_size;
	return 0;
}
