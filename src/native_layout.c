/* SPDX-License-Identifier: MIT */
#include "native_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

int native_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= NATIVE_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		/* no '.': bpffs refuses it in the name of a pin directory */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int native_msg_check(const struct native_msg *m, size_t len, unsigned type, unsigned nr_fds)
{
	if (len < offsetof(struct native_msg, type) || m->magic != NATIVE_MAGIC)
		return -EPROTO;
	if (m->proto_version != NATIVE_PROTO_VERSION || m->layout_version != NATIVE_LAYOUT_VERSION)
		return -EPROTO;
	if (len != sizeof(*m))
		return -EBADMSG;
	if (m->error)
		return m->error > 0 && m->error < 4096 ? -m->error : -EBADMSG;
	if (m->type != type || m->nr_fds != nr_fds)
		return -EBADMSG;
	if (m->capacity == 0 || m->capacity > (1ull << 39) || m->max_readers == 0 ||
	    m->max_readers > NATIVE_MAX_READERS || m->name[NATIVE_NAME_MAX - 1] != 0)
		return -EBADMSG;
	if (type == NATIVE_MSG_HELLO && m->slot_index >= m->max_readers)
		return -EBADMSG;
	return 0;
}

int native_fd_check(int fd, uint64_t min_size, bool exact, unsigned seals, bool writable)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size < min_size || (exact && (uint64_t)st.st_size != min_size))
		return -EBADMSG;
	int have = fcntl(fd, F_GET_SEALS);
	if (have < 0 || ((unsigned)have & seals) != seals)
		return -EBADMSG;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!writable && (fl & O_ACCMODE) != O_RDONLY) ||
	    (writable && (fl & O_ACCMODE) != O_RDWR))
		return -EBADMSG;
	return 0;
}

int native_header_check(const struct native_header *h, uint64_t generation, uint64_t capacity,
			uint32_t max_readers)
{
	if (h->magic != NATIVE_MAGIC || h->layout_version != NATIVE_LAYOUT_VERSION)
		return -EPROTO;
	if (h->header_size != sizeof(*h) || h->max_readers != max_readers)
		return -EBADMSG;
	/* A generation may have passed since the message was sent: then the
	 * copies are older than the header says, which read_begin handles. */
	if (atomic_load(&h->generation) < generation)
		return -EBADMSG;
	if (atomic_load(&h->generation) == generation && atomic_load(&h->capacity) != capacity)
		return -EBADMSG;
	return 0;
}
