/* SPDX-License-Identifier: MIT */
/*
 * The figures of a segment: a compat one's from its state file
 * (stat_from_compat), a native one's from its header (stat_from_header,
 * what mmsync_reader_stat() gives), read from a pinned BPF state map, and
 * printed as Prometheus exposition text. The text is the same, line for
 * line, as what the BPF iterator prints (bpf/mmsync_metrics.bpf.c): change
 * both together; tests/bpf_test.sh compares them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpf_state.h"
#include "compat_layout.h"
#include "config.h"
#include "native_layout.h"
#include "metrics.h"

void stat_from_header(const struct native_header *h, struct mmsync_stat *st)
{
	/* The writer's figures: single words, each consistent on its own. */
	size_t sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct mmsync_stat s = { .sz = sz, .native = true };
	s.version = atomic_load(&h->version);
	s.idx = mmsync_version_idx(s.version);
	s.size = mmsync_version_size(s.version);
	s.checksum = mmsync_version_checksum(s.version);
	s.seq = atomic_load(&h->seq);
	s.generation = atomic_load(&h->generation);
	s.capacity = atomic_load(&h->capacity);
	s.max_readers = h->max_readers;
	s.readers[0] = atomic_load(&h->readers[0]);
	s.readers[1] = atomic_load(&h->readers[1]);
	s.live_slots = atomic_load(&h->live_slots);
	s.evictions = atomic_load(&h->evictions);
	s.reclaimed = atomic_load(&h->reclaimed);
	s.last_publish_ns = atomic_load(&h->last_publish_ns);
	s.writer_pid = (int32_t)atomic_load(&h->writer_pid);
	s.membarriers = atomic_load(&h->membarriers);
	s.membarrier_failures = atomic_load(&h->membarrier_failures);
	s.futex_wakes = atomic_load(&h->futex_wakes);
	s.wake_msgs = atomic_load(&h->wake_msgs);
	s.disconnects = atomic_load(&h->disconnects);
	memcpy(s.name, h->name, sizeof(s.name));
	s.name[sizeof(s.name) - 1] = 0;
	memcpy(st, &s, sz);
}

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

/* One metric family: its HELP and TYPE lines, then one sample line (or
 * two, for the readers) per segment. */
struct family {
	const char *name, *type, *help;
	void (*samples)(struct text *t, const struct mmsync_stat *st);
};

static void info(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_info{name=\"%s\",layout=\"native\",generation=\"%llu\",capacity=\"%llu\"} 1\n",
	    st->name, (unsigned long long)st->generation, (unsigned long long)st->capacity);
}

static void write_seq(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_write_seq{name=\"%s\"} %llu\n", st->name, (unsigned long long)st->seq);
}

static void payload(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_payload_bytes{name=\"%s\"} %llu\n", st->name, (unsigned long long)st->size);
}

static void readers(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_readers{name=\"%s\",copy=\"0\"} %u\n", st->name, st->readers[0]);
	add(t, "mmsync_readers{name=\"%s\",copy=\"1\"} %u\n", st->name, st->readers[1]);
}

static void slots(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_reader_slots_live{name=\"%s\"} %u\n", st->name, st->live_slots);
}

static void evictions(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_evictions_total{name=\"%s\"} %llu\n", st->name,
	    (unsigned long long)st->evictions);
}

static void reclaimed(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_dead_readers_reclaimed_total{name=\"%s\"} %llu\n", st->name,
	    (unsigned long long)st->reclaimed);
}

static void disconnects(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_reader_disconnects_total{name=\"%s\"} %llu\n", st->name,
	    (unsigned long long)st->disconnects);
}

static void membarriers(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_membarriers_total{name=\"%s\"} %llu\n", st->name,
	    (unsigned long long)st->membarriers);
}

static void membarrier_failures(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_membarrier_failures_total{name=\"%s\"} %llu\n", st->name,
	    (unsigned long long)st->membarrier_failures);
}

static void last_publish(struct text *t, const struct mmsync_stat *st)
{
	add(t, "mmsync_last_publish_timestamp_seconds{name=\"%s\"} %llu.%09llu\n", st->name,
	    (unsigned long long)(st->last_publish_ns / 1000000000u),
	    (unsigned long long)(st->last_publish_ns % 1000000000u));
}

static const struct family families[] = {
	{ "mmsync_info", "gauge", "Segment layout, generation and bytes per copy.", info },
	{ "mmsync_write_seq", "gauge", "Sequence number of the last publish.", write_seq },
	{ "mmsync_payload_bytes", "gauge", "Size of the published payload.", payload },
	{ "mmsync_readers", "gauge", "Readers holding a view of each copy.", readers },
	{ "mmsync_reader_slots_live", "gauge", "Reader slots in use.", slots },
	{ "mmsync_evictions_total", "counter", "Readers evicted after the grace period.", evictions },
	{ "mmsync_dead_readers_reclaimed_total", "counter",
	  "Slots of dead readers taken back (killed, or exited without closing).", reclaimed },
	{ "mmsync_reader_disconnects_total", "counter", "Readers that closed their connection.",
	  disconnects },
	{ "mmsync_membarriers_total", "counter", "Membarriers issued for fenceless readers.",
	  membarriers },
	{ "mmsync_membarrier_failures_total", "counter",
	  "Membarriers refused (fenceless readers then read fenced).", membarrier_failures },
	{ "mmsync_last_publish_timestamp_seconds", "gauge", "Time of the last publish.", last_publish },
};

int mmsync_stat_prometheus(const struct mmsync_stat *st, size_t n, char *buf, size_t len)
{
	if ((!st && n) || !buf || !len)
		return -EINVAL;
	/* names are [A-Za-z0-9_-] (native_name_valid): no label escaping */
	for (size_t i = 0; i < n; i++)
		if (st[i].sz < offsetof(struct mmsync_stat, name) + sizeof(st[i].name) || !st[i].native ||
		    !memchr(st[i].name, 0, sizeof(st[i].name)))
			return -EINVAL;
	struct text t = { buf, len, 0, false };
	buf[0] = 0;
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]) && n; f++) {
		add(&t, "# HELP %s %s\n", families[f].name, families[f].help);
		add(&t, "# TYPE %s %s\n", families[f].name, families[f].type);
		for (size_t i = 0; i < n; i++)
			families[f].samples(&t, &st[i]);
	}
	return t.full ? -ENOSPC : (int)t.used;
}

int mmsync_stat_pinned(const char *name, struct mmsync_stat *st)
{
	struct native_header h;

	if (!MMSYNC_HAVE_BPF)
		return -ENOSYS; /* before the arguments: a caller may probe with NULLs */
	if (!name || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
	int err = bpf_state_read(name, &h);
	if (err)
		return err;
	stat_from_header(&h, st);
	return 0;
}

void stat_from_compat(const struct compat_state *s, struct mmsync_stat *st)
{
	size_t sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct mmsync_stat f = { .sz = sz };
	f.version = atomic_load(&s->version);
	f.idx = mmsync_version_idx(f.version);
	f.size = mmsync_version_size(f.version);
	f.checksum = mmsync_version_checksum(f.version);
	f.readers[0] = atomic_load(&s->readers[0]);
	f.readers[1] = atomic_load(&s->readers[1]);
	memcpy(st, &f, sz);
}
