/* SPDX-License-Identifier: MIT */
/*
 * The mmap-sync 2.x file layout ("compat"): data definitions and their
 * validation. Writer and reader code call these; none re-derives an offset.
 *
 *   PREFIX_state   16 bytes, mode 0660: u64 version word, u32 readers[2]
 *   PREFIX_data_N  mode 0640, the payload at offset 0; only ever grows
 *
 * The crate truncates a state file of any other size and re-initialises it,
 * so this struct can never grow.
 */
#ifndef MMSYNC_COMPAT_LAYOUT_H
#define MMSYNC_COMPAT_LAYOUT_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "log.h"
#include "mmsync.h"

struct compat_state {
	_Atomic uint64_t version;
	_Atomic uint32_t readers[2];
};

_Static_assert(sizeof(struct compat_state) == 16, "mmap-sync state is 16 bytes");
_Static_assert(offsetof(struct compat_state, readers) == 8, "readers at offset 8");

#define COMPAT_STATE_MODE 0660
#define COMPAT_DATA_MODE 0640

/* Longest suffix appended to a prefix: "_data_0". */
#define COMPAT_SUFFIX_MAX 8

enum compat_file { COMPAT_STATE = -1, COMPAT_DATA0 = 0, COMPAT_DATA1 = 1 };

/* Writes PREFIX_state or PREFIX_data_N into @buf (PATH_MAX bytes).
 * Return: 0, -EINVAL, -ENAMETOOLONG. */
int compat_path(char *buf, const char *prefix, enum compat_file which);

/* Checks that @prefix can name the three files. Return: 0, -EINVAL, -ENAMETOOLONG. */
int compat_prefix_valid(const char *prefix);

/* Encodes a version word. Return: 0, or -EMSGSIZE when @size needs more than 39 bits. */
int compat_version_encode(unsigned idx, uint64_t size, uint64_t hash, uint64_t *out);

/* Whose files a compat handle uses: the caller's, root's, and those of
 * @uid (0: no one else); refusals go to @log. */
struct compat_trust {
	uid_t uid;
	struct log log;
};

/* Opens @path for @flags (O_CREAT with @mode allowed), never following a
 * symlink nor blocking on a FIFO, and checks the file before anyone uses
 * it: a regular file with one link, owned by a trusted uid. Return: the
 * descriptor (close-on-exec, above 2), or -ELOOP (a symlink), -EINVAL (not
 * a regular file), -EPERM (another owner, or more links: someone else
 * could change what it holds), or the errno of open(2). Refusals are
 * logged, naming the file and its owner. */
int compat_open(const char *path, int flags, mode_t mode, const struct compat_trust *t);

/* Checks an open state file before it is mapped: a regular file of exactly
 * 16 bytes. Return: 0, -EBADMSG, or the errno of fstat(2). */
int compat_state_check(int fd);

/* Checks an open data file holds at least @size bytes, so that touching the
 * first @size bytes of a mapping cannot fault for want of a file. Gives its
 * size and the bytes its blocks hold (less than the size: sparse, and a
 * fault in a hole may find no space). Return: 0, -EBADMSG, errno. */
int compat_data_check(int fd, uint64_t size, uint64_t *file_size, uint64_t *allocated);

#endif
