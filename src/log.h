/* SPDX-License-Identifier: MIT */
/* Where the library reports what it refused or dropped: the caller's
 * callback (the options' log and log_ctx), or stderr. */
#ifndef MMSYNC_LOG_H
#define MMSYNC_LOG_H

#include <stdarg.h>

struct log {
	void (*fn)(void *ctx, const char *msg);
	void *ctx;
	const char *who;	/* names the segment or prefix in stderr's lines */
};

void log_msg(const struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(const struct log *l, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
