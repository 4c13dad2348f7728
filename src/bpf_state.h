/* SPDX-License-Identifier: MIT */
/* The native header mirrored in a BPF map: created from the metrics
 * program's skeleton, mapped by the writer, pinned with the metrics
 * iterator under /sys/fs/bpf/mmsync/NAME/ for bpftool, cat and Prometheus.
 *
 * Readers do not map it: a read-only descriptor of a BPF map cannot be
 * mapped at all (mmap(2) drops VM_SHARED for a file not open for writing,
 * and the map then refuses with EINVAL), and a writable one would let a
 * reader change the header. Readers map the sealed memfd header; the
 * writer copies it into the map whenever it changes its figures. */
#ifndef MMSYNC_BPF_STATE_H
#define MMSYNC_BPF_STATE_H

#include <stdbool.h>

#define BPF_PIN_ROOT "/sys/fs/bpf/mmsync"

struct bpf_state;

/* Loads the program, creates the state map and maps it read-write into
 * *@map (NATIVE_STATE_SIZE bytes), attaches the iterator and pins both.
 * A pin left by a writer that died is replaced; one of a live writer is not.
 * Return: 0, -EPERM (no CAP_BPF, or BPF refused), -EEXIST (a live writer of
 * that name), -ENOSYS (built without BPF: bpf_state_none.c), or another
 * -errno. */
int bpf_state_create(struct bpf_state **out, const char *name, bool keep_pins, void **map);

/* Unpins (unless kept), detaches, unmaps. */
void bpf_state_destroy(struct bpf_state *bs);

/* This process's references only (descriptors, mappings), the pins left
 * alone: for the copy a forked child inherited, whose pins are the parent's. */
void bpf_state_release(struct bpf_state *bs);

struct native_header;

/* Reads the header pinned for segment @name (a copy, by lookup).
 * Return: 0, -ENOENT (no such pin), -EBADMSG, -ENOSYS (built without BPF),
 * or -errno. */
int bpf_state_read(const char *name, struct native_header *out);

#endif
