// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * The metrics iterator: prints the state map (one element, the native
 * header the writer keeps up to date) as Prometheus exposition text. The
 * writer pins the link as /sys/fs/bpf/mmsync/NAME/metrics: every read(2)
 * of that file runs it, so `cat` shows the current figures with no mmsync
 * process beside it.
 *
 * Why iter/bpf_map and not iter/bpf_map_elem: on the kernel this was built
 * and tested on (6.18, lockdown=integrity), the kernel refuses to load any
 * iter/bpf_map_elem program with EPERM, even one of 13 instructions that
 * only prints, while iter/bpf_map and iter/task programs load. So the
 * program walks the maps and prints when it reaches its own state map
 * (state_id, set by the writer after loading), reading it directly.
 *
 * The text must stay line for line what mmsync_stat_prometheus() prints
 * (src/metrics.c); tests/bpf_test.sh compares the two.
 *
 * No vmlinux.h: the build must not depend on the build machine's kernel.
 * The two kernel types the context needs are declared here with
 * preserve_access_index, so libbpf relocates their offsets (CO-RE) against
 * the running kernel's BTF when the writer loads the program.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "native_state.h"

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_map {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_iter__bpf_map {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
} __attribute__((preserve_access_index));

/* The id of the state map, written by the writer once it is loaded. */
__u32 state_id;

/* The state: one page-aligned element that user space maps (BPF_F_MMAPABLE). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct native_header);
} state SEC(".maps");

SEC("iter/bpf_map")
int metrics(struct bpf_iter__bpf_map *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct bpf_map *map = ctx->map;
	__u32 zero = 0;

	if (!map || map->id != state_id) /* another map, or the call after the last */
		return 0;
	const struct native_header *h = bpf_map_lookup_elem(&state, &zero);
	if (!h)
		return 0;
	const char *n = h->name;
	__u64 ts = h->last_publish_ns;

	BPF_SEQ_PRINTF(seq, "# HELP mmsync_info Segment layout, generation and bytes per copy.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_info gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_info{name=\"%s\",layout=\"native\",generation=\"%llu\",capacity=\"%llu\"} 1\n",
		       n, h->generation, h->capacity);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_write_seq Sequence number of the last publish.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_write_seq gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_write_seq{name=\"%s\"} %llu\n", n, h->seq);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_payload_bytes Size of the published payload.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_payload_bytes gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_payload_bytes{name=\"%s\"} %llu\n", n,
		       (h->version >> 1) & ((1ull << 39) - 1));
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_readers Readers holding a view of each copy.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_readers gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_readers{name=\"%s\",copy=\"0\"} %u\n", n, h->readers[0]);
	BPF_SEQ_PRINTF(seq, "mmsync_readers{name=\"%s\",copy=\"1\"} %u\n", n, h->readers[1]);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_reader_slots_live Reader slots in use.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_reader_slots_live gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_reader_slots_live{name=\"%s\"} %u\n", n, h->live_slots);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_evictions_total Readers evicted after the grace period.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_evictions_total counter\n");
	BPF_SEQ_PRINTF(seq, "mmsync_evictions_total{name=\"%s\"} %llu\n", n, h->evictions);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_dead_readers_reclaimed_total Slots of dead readers taken back (killed, or exited without closing).\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_dead_readers_reclaimed_total counter\n");
	BPF_SEQ_PRINTF(seq, "mmsync_dead_readers_reclaimed_total{name=\"%s\"} %llu\n", n, h->reclaimed);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_reader_disconnects_total Readers that closed their connection.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_reader_disconnects_total counter\n");
	BPF_SEQ_PRINTF(seq, "mmsync_reader_disconnects_total{name=\"%s\"} %llu\n", n, h->disconnects);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_membarriers_total Membarriers issued for fenceless readers.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_membarriers_total counter\n");
	BPF_SEQ_PRINTF(seq, "mmsync_membarriers_total{name=\"%s\"} %llu\n", n, h->membarriers);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_membarrier_failures_total Membarriers refused (fenceless readers then read fenced).\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_membarrier_failures_total counter\n");
	BPF_SEQ_PRINTF(seq, "mmsync_membarrier_failures_total{name=\"%s\"} %llu\n", n,
		       h->membarrier_failures);
	BPF_SEQ_PRINTF(seq, "# HELP mmsync_last_publish_timestamp_seconds Time of the last publish.\n");
	BPF_SEQ_PRINTF(seq, "# TYPE mmsync_last_publish_timestamp_seconds gauge\n");
	BPF_SEQ_PRINTF(seq, "mmsync_last_publish_timestamp_seconds{name=\"%s\"} %llu.%09llu\n", n,
		       ts / 1000000000, ts % 1000000000);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
