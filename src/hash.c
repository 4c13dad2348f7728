/* SPDX-License-Identifier: MIT */
/*
 * wyhash as mmap-sync computes it (the wyhash crate 0.5.0, which follows the
 * C wyhash of its time). It must stay bit-exact: the low 24 bits land in the
 * version word, and Rust and C peers compare them. tests/test_hash.c checks
 * it against values produced by the crate for every length branch.
 */
#include "hash.h"

#include <string.h>

static const uint64_t P0 = 0xa0761d6478bd642full;
static const uint64_t P1 = 0xe7037ed1a0b428dbull;
static const uint64_t P2 = 0x8ebc6af09c88c6e3ull;
static const uint64_t P3 = 0x589965cc75374cc3ull;
static const uint64_t P4 = 0x1d8e4e27c47d124full;
static const uint64_t P5 = 0xeb44accab455d165ull;

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)(r >> 64) ^ (uint64_t)r;
}

/* Loads are little-endian whatever the host, as in the crate. */
static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t le32(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

/* Two 32-bit halves, the first in the high half: the crate's read64_swapped. */
static inline uint64_t swapped64(const uint8_t *p)
{
	return le32(p) << 32 | le32(p + 4);
}

/* The last 1..8 bytes, in the crate's byte order (not a plain load). */
static uint64_t rest(const uint8_t *p, size_t n)
{
	switch (n) {
	case 1: return p[0];
	case 2: return (uint64_t)p[1] << 8 | p[0];
	case 3: return (uint64_t)p[1] << 16 | (uint64_t)p[0] << 8 | p[2];
	case 4: return le32(p);
	case 5: return le32(p) << 8 | p[4];
	case 6: return le32(p) << 16 | (uint64_t)p[5] << 8 | p[4];
	case 7: return le32(p) << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[4] << 8 | p[6];
	default: return swapped64(p);
	}
}

uint64_t mmsync_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t seed = 0;
	size_t i;

	for (i = 0; i + 32 <= len; i += 32)
		seed = mum(seed ^ P0, mum(le64(p + i) ^ P1, le64(p + i + 8) ^ P2) ^
				      mum(le64(p + i + 16) ^ P3, le64(p + i + 24) ^ P4));
	seed ^= P0;

	size_t n = len & 31;
	const uint8_t *t = p + (len & ~(size_t)31);
	if (n) {
		switch ((n - 1) / 8) {
		case 0:
			seed = mum(seed, rest(t, n) ^ P1);
			break;
		case 1:
			seed = mum(swapped64(t) ^ seed, rest(t + 8, n - 8) ^ P2);
			break;
		case 2:
			seed = mum(swapped64(t) ^ seed, swapped64(t + 8) ^ P2) ^
			       mum(seed, rest(t + 16, n - 16) ^ P3);
			break;
		default:
			seed = mum(swapped64(t) ^ seed, swapped64(t + 8) ^ P2) ^
			       mum(swapped64(t + 16) ^ seed, rest(t + 24, n - 24) ^ P4);
			break;
		}
	}
	return mum(seed, (uint64_t)len ^ P5);
}
