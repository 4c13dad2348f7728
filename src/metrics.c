/* SPDX-License-Identifier: MIT */
/*
 * The figures of a native segment: read from a pinned BPF state map, and
 * printed as Prometheus exposition text. The text is the same, line for
 * line, as what the BPF iterator prints (bpf/mmsync_metrics.bpf.c): change
 * both together; tests/bpf_test.sh compares them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpf_state.h"
#include "native_layout.h"
#include "stat.h"

struct text {
	char *buf;
	size_t len, used;
	bool full;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->len - t->used)
		t->full = true;
	else
		t->used += (size_t)n;
}

int mmsync_stat_prometheus(const struct mmsync_stat *st, char *buf, size_t len)
{
	if (!st || !buf || !len || st->sz < offsetof(struct mmsync_stat, name) + sizeof(st->name) ||
	    !st->native)
		return -EINVAL;
	struct text t = { buf, len, 0, false };
	char n[sizeof(st->name)];
	snprintf(n, sizeof(n), "%s", st->name); /* names are [A-Za-z0-9._-]: no escaping */

	add(&t, "# HELP mmsync_info Segment layout, generation and bytes per copy.\n");
	add(&t, "# TYPE mmsync_info gauge\n");
	add(&t, "mmsync_info{name=\"%s\",layout=\"native\",generation=\"%llu\",capacity=\"%llu\"} 1\n",
	    n, (unsigned long long)st->generation, (unsigned long long)st->capacity);
	add(&t, "# HELP mmsync_write_seq Sequence number of the last publish.\n");
	add(&t, "# TYPE mmsync_write_seq gauge\n");
	add(&t, "mmsync_write_seq{name=\"%s\"} %llu\n", n, (unsigned long long)st->seq);
	add(&t, "# HELP mmsync_payload_bytes Size of the published payload.\n");
	add(&t, "# TYPE mmsync_payload_bytes gauge\n");
	add(&t, "mmsync_payload_bytes{name=\"%s\"} %llu\n", n, (unsigned long long)st->size);
	add(&t, "# HELP mmsync_readers Readers holding a view of each copy.\n");
	add(&t, "# TYPE mmsync_readers gauge\n");
	add(&t, "mmsync_readers{name=\"%s\",copy=\"0\"} %u\n", n, st->readers[0]);
	add(&t, "mmsync_readers{name=\"%s\",copy=\"1\"} %u\n", n, st->readers[1]);
	add(&t, "# HELP mmsync_reader_slots_live Reader slots in use.\n");
	add(&t, "# TYPE mmsync_reader_slots_live gauge\n");
	add(&t, "mmsync_reader_slots_live{name=\"%s\"} %u\n", n, st->live_slots);
	add(&t, "# HELP mmsync_evictions_total Readers evicted after the grace period.\n");
	add(&t, "# TYPE mmsync_evictions_total counter\n");
	add(&t, "mmsync_evictions_total{name=\"%s\"} %llu\n", n, (unsigned long long)st->evictions);
	add(&t, "# HELP mmsync_dead_readers_reclaimed_total Slots of dead readers taken back.\n");
	add(&t, "# TYPE mmsync_dead_readers_reclaimed_total counter\n");
	add(&t, "mmsync_dead_readers_reclaimed_total{name=\"%s\"} %llu\n", n,
	    (unsigned long long)st->reclaimed);
	add(&t, "# HELP mmsync_last_publish_timestamp_seconds Time of the last publish.\n");
	add(&t, "# TYPE mmsync_last_publish_timestamp_seconds gauge\n");
	add(&t, "mmsync_last_publish_timestamp_seconds{name=\"%s\"} %llu.%09llu\n", n,
	    (unsigned long long)(st->last_publish_ns / 1000000000u),
	    (unsigned long long)(st->last_publish_ns % 1000000000u));
	return t.full ? -ENOSPC : (int)t.used;
}

int mmsync_stat_pinned(const char *name, struct mmsync_stat *st)
{
	struct native_header h;

	if (!name || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
	int err = bpf_state_read(name, &h);
	if (err)
		return err;
	stat_from_header(&h, st);
	return 0;
}
