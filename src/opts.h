/* SPDX-License-Identifier: MIT */
/* Options structs carry their size first, as libbpf's do: a caller built
 * against an older header passes less, a newer one more. */
#ifndef MMSYNC_OPTS_H
#define MMSYNC_OPTS_H

#include <stddef.h>

#include "log.h"

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

/* The log of @opts (its log and log_ctx fields, where the caller's struct
 * reaches them: else stderr), naming @who in stderr's lines. */
#define OPTS_LOG(opts, who)                                                     \
	((struct log){ OPTS_GET(opts, log, NULL), OPTS_GET(opts, log_ctx, NULL), (who) })

/* opts_valid(), and when it fails a line through @l that says which
 * field is at fault, naming @func and the struct @type.
 * Return: 0 or -EINVAL (opts.c). */
int opts_check(const void *opts, size_t known, const struct log *l, const char *func,
	       const char *type);
/* Flags of @flags outside @known: refused, said through @l.
 * Return: 0 or -EINVAL. */
int opts_flags_check(unsigned flags, unsigned known, const struct log *l, const char *func,
		     const char *type);

#endif
