/* SPDX-License-Identifier: MIT */
/*
 * The native layout: the header, the reader slots and the handshake
 * message, with the checks a reader makes before it trusts any of them.
 *
 *   state object   one page: struct native_header. Written by the writer
 *                  only; readers map it read-only.
 *   copies 0, 1    `capacity` bytes each (sparse), sealed.
 *   slot objects   a socket reader's own page (struct native_slot at 0), or
 *                  the table shared by readers made from exported
 *                  descriptors (max_readers slots, one cache line each).
 *
 * Little-endian, fixed-size fields: the header is also what a BPF program
 * and bpftool read.
 */
#ifndef MMSYNC_NATIVE_LAYOUT_H
#define MMSYNC_NATIVE_LAYOUT_H

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "native_state.h"

#define NATIVE_PROTO_VERSION 1
#define NATIVE_MAX_READERS 4096
#define NATIVE_DEFAULT_READERS 126
#define NATIVE_DEFAULT_CAPACITY (64ull << 20)

/* native_header.flags */
#define NATIVE_HDR_CHECKSUM 1u	/* version words carry the payload's checksum */

_Static_assert(sizeof(struct native_header) <= NATIVE_STATE_SIZE, "header fits its page");
_Static_assert(offsetof(struct native_header, vi) == 2 * CACHE_LINE, "read words on their own line");
_Static_assert(offsetof(struct native_header, seq) == 3 * CACHE_LINE, "figures on their own line");

/* One reader's slot: the only memory a read writes. */
struct native_slot {
	/* 0, or (n << 1 | vi) for the reader's n-th read, arrived on indicator vi */
	_Atomic uint64_t arrived;
	/* (n << 1 | c): in its n-th read the reader loaded li == c. Lets the
	 * writer skip a reader of the copy it is not about to write, and count
	 * readers per copy. */
	_Atomic uint64_t reading;
	_Atomic uint64_t evictions;	/* bumped by the writer when it evicts this reader */
	_Atomic uint32_t mode;		/* SLOT_MODE_*: set by the reader */
	/* Set by the writer when it drops a reader that is still alive (its
	 * connection failed): the reader's next begin says -ECONNRESET. */
	_Atomic uint32_t revoked;
	/* A reader that sleeps until a version after the seq it has: (seq << 2)
	 * | WAIT_FUTEX | WAIT_FD. One word, so that the writer decides on the
	 * seq and the flag as one (src/native_wake.c, docs/protocol.md). */
	_Atomic uint64_t wait;
	/* Set by the reader when it closes: its slot is then a clean
	 * disconnect, not a dead reader's (the header's figures only). */
	_Atomic uint32_t closed;
	uint8_t pad[CACHE_LINE - 44];
} __attribute__((aligned(CACHE_LINE)));

_Static_assert(sizeof(struct native_slot) == CACHE_LINE, "one cache line per slot");

/* native_slot.mode: set by the reader at set-up. */
enum {
	SLOT_MODE_FENCED = 0,		/* each arrival is followed by a full fence */
	SLOT_MODE_FENCELESS = 2,	/* registered, reads without a fence: the writer
					 * issues the barrier before it scans the slots */
};

/* native_slot.wait: the reader sleeps in mmsync_wait() (a futex on the
 * header's seq), or its descriptor waits for a WAKE message. */
#define WAIT_FUTEX 1u
#define WAIT_FD 2u
#define WAIT_SEQ_SHIFT 2

static inline unsigned arrived_indicator(uint64_t a) { return (unsigned)(a & 1); }

/* The copy the reader of @arrived reads, if its slot says so yet; else -1. */
static inline int slot_reading(uint64_t arrived, uint64_t reading)
{
	return arrived && reading >> 1 == arrived >> 1 ? (int)(reading & 1) : -1;
}

/* The handshake a connecting reader receives, with SCM_RIGHTS
 * [state, copy 0, copy 1, slot]; and, on each new generation, the same
 * message with type GENERATION and [copy 0, copy 1]. A refusal is the
 * message with `error` set and no descriptor. A reader whose descriptor
 * waits (WAIT_FD) is sent type WAKE, without descriptors, at a publish. */
enum native_msg_type { NATIVE_MSG_HELLO = 1, NATIVE_MSG_GENERATION = 2, NATIVE_MSG_WAKE = 3 };

/* native_msg.flags: the copies are hugetlbfs files, which cannot carry
 * seals; readers check the file system instead. */
#define NATIVE_FLAG_UNSEALED 1u

struct native_msg {
	uint64_t magic;
	uint32_t proto_version;
	uint32_t layout_version;
	uint32_t type;
	int32_t error;		/* 0, or a positive errno: refused */
	uint64_t generation;
	uint64_t capacity;
	uint32_t max_readers;
	uint32_t flags;
	uint32_t slot_index;
	uint32_t nr_fds;
	char name[NATIVE_NAME_MAX];
};

/* Checks a received message before anything in it is used.
 * Return: 0, -EPROTO (not ours, other version), -EBADMSG (inconsistent), or
 * the refusal's -errno. */
int native_msg_check(const struct native_msg *m, size_t len, unsigned type, unsigned nr_fds);

/* Checks a descriptor a reader was given: a regular file (memfd or
 * hugetlbfs) of at least @min_size bytes (exactly @min_size if @exact),
 * carrying at least @seals, opened read-only unless @writable.
 * Return: 0 or -EBADMSG. */
int native_fd_check(int fd, uint64_t min_size, bool exact, unsigned seals, bool writable);

/* Checks a mapped header against what the handshake said.
 * Return: 0 or -EBADMSG/-EPROTO. */
int native_header_check(const struct native_header *h, uint64_t generation, uint64_t capacity,
			uint32_t max_readers);

/* Seals every copy and the header carry; slot objects carry the first two. */
#define NATIVE_SEALS_SIZE (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define NATIVE_SEALS_COPY (NATIVE_SEALS_SIZE | F_SEAL_FUTURE_WRITE)

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int native_name_valid(const char *name);

#endif
