/* SPDX-License-Identifier: MIT */
/*
 * The state header of the native layout, on its own so that the BPF
 * program (bpf/mmsync_metrics.bpf.c) reads the very struct the writer
 * writes: it is the value type of the state map, and its BTF is what
 * bpftool prints field by field. Fixed-size, little-endian fields only.
 */
#ifndef MMSYNC_NATIVE_STATE_H
#define MMSYNC_NATIVE_STATE_H

#include <linux/types.h>

#ifdef __bpf__
#define MMSYNC_ATOMIC(t) t	/* the BPF program only reads */
#else
#include <stdatomic.h>
#define MMSYNC_ATOMIC(t) _Atomic t
#endif

#define NATIVE_MAGIC 0x31564e434e59534dull	/* "MSYNCNV1" */
#define NATIVE_LAYOUT_VERSION 3		/* 2: fenceless_ok, slot.revoked; 3: slot.wait */
#define NATIVE_NAME_MAX 64			/* with the terminating 0 */
#define NATIVE_STATE_SIZE 4096
#define CACHE_LINE 64

/* What a reader learns of the copy it reads: filled with the copy, before
 * `li` points at it, and protected by the same protocol as its bytes. */
struct native_copy_desc {
	__u64 version;	/* version word: idx, size, checksum */
	__u64 seq;		/* write sequence number */
	__u64 generation;	/* generation of the copy */
};

struct native_header {
	/* lines 0-1: set at creation, changed only with a generation */
	__u64 magic;
	__u32 layout_version;
	__u32 header_size;
	__u32 max_readers;
	__u32 flags;
	MMSYNC_ATOMIC(__u64) generation;
	MMSYNC_ATOMIC(__u64) capacity;
	char name[NATIVE_NAME_MAX];	/* the segment's name, 0-terminated */
	/* line 2: what every read loads */
	MMSYNC_ATOMIC(__u32) vi __attribute__((aligned(CACHE_LINE))); /* indicator new readers arrive on */
	MMSYNC_ATOMIC(__u32) li;	/* copy readers read */
	struct native_copy_desc copy[2];
	/* line 3: the writer's figures, for stat and metrics */
	MMSYNC_ATOMIC(__u64) seq __attribute__((aligned(CACHE_LINE)));
	MMSYNC_ATOMIC(__u64) version;
	MMSYNC_ATOMIC(__u64) last_publish_ns; /* CLOCK_REALTIME_COARSE */
	MMSYNC_ATOMIC(__u32) readers[2];
	MMSYNC_ATOMIC(__u32) live_slots;
	MMSYNC_ATOMIC(__u32) writer_pid;
	MMSYNC_ATOMIC(__u64) evictions;
	MMSYNC_ATOMIC(__u64) reclaimed;
	/* line 4: bytes of each copy the writer has allocated; readers
	 * prefault as much of their mappings */
	MMSYNC_ATOMIC(__u64) populated[2] __attribute__((aligned(CACHE_LINE)));
	MMSYNC_ATOMIC(__u64) membarriers;	/* issued for fenceless readers */
	MMSYNC_ATOMIC(__u64) membarrier_failures; /* barriers refused (seccomp) */
	/* 1 while the writer can issue MEMBARRIER_CMD_GLOBAL_EXPEDITED: only
	 * then may a reader read without a fence. Probed at creation; cleared
	 * for good when a barrier fails (native_slots.c, barrier_down()). */
	MMSYNC_ATOMIC(__u32) fenceless_ok;
	/* Wake-ups (src/native_wake.c): futex wakes issued and WAKE messages
	 * sent, at publishes that found a reader waiting. */
	MMSYNC_ATOMIC(__u64) futex_wakes;
	MMSYNC_ATOMIC(__u64) wake_msgs;
	/* Slots taken back from readers that closed (mmsync_reader_close());
	 * `reclaimed` counts those that died. In the header's padding: its
	 * size, which readers check, is unchanged. */
	MMSYNC_ATOMIC(__u64) disconnects;
};

#endif
