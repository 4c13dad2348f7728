/* SPDX-License-Identifier: MIT */
/* The checks of an options struct a caller passed, and what they say when
 * they refuse it: an -EINVAL alone leaves the caller to guess which
 * argument, and which of its fields, is at fault. */
#include <errno.h>

#include "opts.h"

int opts_check(const void *opts, size_t known, const struct log *l, const char *func,
	       const char *type)
{
	if (opts_valid(opts, known))
		return 0;
	size_t sz = *(const size_t *)opts;
	if (sz < sizeof(size_t))
		log_msg(l, "%s(): opts->sz is %zu, less than the size field itself: declare the "
			"options with MMSYNC_OPTS(%s, NAME, ...), which sets it", func, sz, type);
	else
		log_msg(l, "%s(): opts->sz is %zu, past the %zu bytes of struct %s this libmmsync "
			"knows, and those bytes are not all zero: a program built against a newer "
			"mmsync.h asks for what this library cannot do, or sz is not "
			"sizeof(struct %s)", func, sz, known, type, type);
	return -EINVAL;
}

int opts_flags_check(unsigned flags, unsigned known, const struct log *l, const char *func,
		     const char *type)
{
	if (!(flags & ~known))
		return 0;
	log_msg(l, "%s(): opts->flags 0x%x has bits 0x%x that are no flag of struct %s (a flag "
		"of another options struct?)", func, flags, flags & ~known, type);
	return -EINVAL;
}
