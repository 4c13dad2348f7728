/* SPDX-License-Identifier: MIT */
/* The figures of a native segment (metrics.c). */
#ifndef MMSYNC_METRICS_H
#define MMSYNC_METRICS_H

#include "mmsync.h"
#include "native_state.h"

/* Fills @st (up to st->sz bytes) from a native header. */
void stat_from_header(const struct native_header *h, struct mmsync_stat *st);

struct compat_state;
/* Fills @st (up to st->sz bytes) from a compat state file's mapping. */
void stat_from_compat(const struct compat_state *s, struct mmsync_stat *st);

#endif
