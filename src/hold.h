/* SPDX-License-Identifier: MIT */
/* Mappings of a reader's copies that outlive the reader's use of them
 * (hold.c): mmsync_view_hold() gives a binding a reference on one. */
#ifndef MMSYNC_HOLD_H
#define MMSYNC_HOLD_H

#include <stddef.h>

struct mmsync_hold;

/* Unmaps a copy's mapping that the reader leaves (a new generation, a
 * remap, close): at once, or, when *@hold is set, once its last holder
 * has released it. Clears *@hold. */
void hold_unmap(struct mmsync_hold **hold, const void *map, size_t len);

#endif
