/* SPDX-License-Identifier: MIT */
/* The library's reports: one line each, to the caller's callback or to
 * stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void log_msg(const struct log *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(l, fmt, ap);
	va_end(ap);
}

void log_vmsg(const struct log *l, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (l->fn)
		l->fn(l->ctx, msg);
	else
		fprintf(stderr, "mmsync: %s: %s\n", l->who ? l->who : "", msg);
}
