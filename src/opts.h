/* SPDX-License-Identifier: MIT */
/* Options structs carry their size first, as libbpf's do: a caller built
 * against an older header passes less, a newer one more. */
#ifndef MMSYNC_OPTS_H
#define MMSYNC_OPTS_H

#include <stddef.h>

/* True when @opts (of @sz bytes as the caller says) is usable by a library
 * that knows @known bytes: large enough for the size field, and any bytes
 * past what the library knows are zero (a newer caller asking for nothing
 * this library cannot do). */
static inline int opts_valid(const void *opts, size_t known)
{
	const size_t *sz = opts;

	if (!opts)
		return 1;
	if (*sz < sizeof(size_t))
		return 0;
	for (size_t i = known; i < *sz; i++)
		if (((const unsigned char *)opts)[i])
			return 0;
	return 1;
}

/* Field @f of @opts if the caller's struct reaches it, else @def. */
#define OPTS_GET(opts, f, def)                                                  \
	((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), f) + sizeof((opts)->f) \
		 ? (opts)->f : (def))

#endif
