/* SPDX-License-Identifier: MIT */
#ifndef MMSYNC_HASH_H
#define MMSYNC_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The payload hash of mmap-sync: the wyhash crate 0.5's WyHash with seed 0,
 * one write(bytes), finish(). The version word keeps its low 24 bits. */
uint64_t mmsync_hash(const void *data, size_t len);

#endif
