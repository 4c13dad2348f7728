/* SPDX-License-Identifier: MIT */
/*
 * The HelloWorld record of the examples, laid out for zero-copy reading:
 * fixed-size fields, relative offsets, no pointers. The layout is that of
 * the archive rkyv 0.7 writes for mmap-sync's example struct
 *
 *     struct HelloWorld { version: u32, messages: Vec<String> }
 *
 * so the C and Rust examples read each other's files. All integers are
 * little-endian; offsets are signed 32-bit, relative to the field holding them.
 *
 *   [bytes of strings longer than 7]  [pad to 4]
 *   messages: n string slots of 8 bytes each
 *       inline (byte 7 < 0x80): bytes 0..6 the text, byte 7 its length
 *       out of line:            u32 length, i32 offset of the text from the slot
 *   root, the last 12 bytes:  u32 version, i32 offset of messages from this
 *                             field, u32 n
 */
#ifndef HELLO_RECORD_H
#define HELLO_RECORD_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define HELLO_ROOT_SIZE 12
#define HELLO_SLOT_SIZE 8
#define HELLO_INLINE_MAX 7

struct hello_string {
	const char *text;
	uint32_t len;
};

static inline void hello_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t hello_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Encodes into @out (of @cap bytes). Return: the record's length, or
 * -EMSGSIZE when it does not fit. */
static inline long hello_encode(uint8_t *out, size_t cap, uint32_t version,
				const char *const *messages, uint32_t n)
{
	size_t pos = 0, slot_pos, need;
	uint32_t text_at[64];

	if (n > 64)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen(messages[i]);
		if (len <= HELLO_INLINE_MAX)
			continue;
		if (pos + len > cap)
			return -EMSGSIZE;
		memcpy(out + pos, messages[i], len);
		text_at[i] = (uint32_t)pos;
		pos += len;
	}
	slot_pos = (pos + 3) & ~(size_t)3;
	need = slot_pos + (size_t)n * HELLO_SLOT_SIZE + HELLO_ROOT_SIZE;
	if (need > cap)
		return -EMSGSIZE;
	memset(out + pos, 0, need - pos);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *slot = out + slot_pos + (size_t)i * HELLO_SLOT_SIZE;
		size_t len = strlen(messages[i]);
		if (len <= HELLO_INLINE_MAX) {
			memcpy(slot, messages[i], len);
			slot[7] = (uint8_t)len;
		} else {
			hello_put32(slot, (uint32_t)len);
			hello_put32(slot + 4, (uint32_t)((int64_t)text_at[i] - (int64_t)(slot - out)));
		}
	}
	uint8_t *root = out + need - HELLO_ROOT_SIZE;
	hello_put32(root, version);
	hello_put32(root + 4, (uint32_t)((int64_t)slot_pos - (int64_t)(root + 4 - out)));
	hello_put32(root + 8, n);
	return (long)need;
}

/* Decodes a record of @len bytes, checking every offset and length against
 * the buffer before it is used. Fills up to @max strings in @msgs.
 * Return: the number of messages, or -EBADMSG. */
static inline int hello_decode(const uint8_t *buf, size_t len, uint32_t *version,
			       struct hello_string *msgs, uint32_t max)
{
	if (len < HELLO_ROOT_SIZE)
		return -EBADMSG;
	const uint8_t *root = buf + len - HELLO_ROOT_SIZE;
	int64_t slots = (int64_t)(root + 4 - buf) + (int32_t)hello_get32(root + 4);
	uint32_t n = hello_get32(root + 8);

	if (n > max || slots < 0 ||
	    (uint64_t)slots + (uint64_t)n * HELLO_SLOT_SIZE > len - HELLO_ROOT_SIZE)
		return -EBADMSG;
	*version = hello_get32(root);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *slot = buf + slots + (size_t)i * HELLO_SLOT_SIZE;
		if (slot[7] < 0x80) {
			if (slot[7] > HELLO_INLINE_MAX)
				return -EBADMSG;
			msgs[i] = (struct hello_string){ (const char *)slot, slot[7] };
			continue;
		}
		uint32_t slen = hello_get32(slot);
		int64_t at = (int64_t)(slot - buf) + (int32_t)hello_get32(slot + 4);
		if (at < 0 || (uint64_t)at + slen > len)
			return -EBADMSG;
		msgs[i] = (struct hello_string){ (const char *)buf + at, slen };
	}
	return (int)n;
}

#endif
