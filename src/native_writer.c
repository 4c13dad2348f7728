/* SPDX-License-Identifier: MIT */
/*
 * The writer of the native layout: its copies and their generations, and
 * the writer's steps of a publish (creating and closing a writer are in
 * native_setup.c). The steps, in order
 * (docs/protocol.md): prepare() runs the deferred waits of the previous
 * publish (WAIT-NEXT, FLIP, WAIT-OLD, in native_slots.c), REVOKE-FENCELESS
 * and the release fence; the caller's bytes go in (FILL); publish() runs
 * COMMIT-GENERATION, PUBLISH, BARRIER and NOTE. Reader slots and the waits
 * are in native_slots.c, the socket in native_serve.c.
 *
 * Generations. A payload larger than the copies is written into two new,
 * larger ones (nw->next), private until that write publishes: only then
 * are readers sent them, the header changed and new readers handed them
 * (generation_commit()). A growing write that fails or is aborted changes
 * nothing any reader sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"
#include "hash.h"
#include "log.h"
#include "native_writer.h"

void logf_(struct native_writer *nw, const char *fmt, ...)
{
	struct log l = { nw->log, nw->log_ctx, nw->name };
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(&l, fmt, ap);
	va_end(ap);
}

/* ---- copies and generations ---- */

size_t round_up(uint64_t n, long page)
{
	return (size_t)((n + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page);
}

const struct copies no_copies = { .seg = { { .fd = -1 }, { .fd = -1 } }, .ro = { -1, -1 } };

void copies_destroy(struct copies *cs)
{
	for (int i = 0; i < 2; i++) {
		segment_destroy(&cs->seg[i]);
		if (cs->ro[i] >= 0)
			close(cs->ro[i]);
	}
	*cs = no_copies;
}

/* Two new copies in @cs, which holds none. */
int copies_create(struct native_writer *nw, uint64_t capacity, struct copies *cs)
{
	int err = 0;

	cs->capacity = capacity;
	for (int i = 0; i < 2 && !err; i++) {
		err = segment_create(&cs->seg[i], nw->name, nw->kind, nw->hugetlbfs_dir, capacity,
				     NATIVE_SEALS_COPY);
		if (!err) {
			cs->ro[i] = segment_reopen(cs->seg[i].fd, O_RDONLY);
			if (cs->ro[i] < 0)
				err = cs->ro[i];
		}
	}
	if (err == -ENOMEM && nw->kind != SEG_MEMFD)
		logf_(nw, "not enough free huge pages for two copies of %llu bytes (see vm.nr_hugepages)",
		      (unsigned long long)capacity);
	if (err)
		copies_destroy(cs);
	return err;
}

void fill_msg(struct native_writer *nw, struct native_msg *m, unsigned type)
{
	*m = (struct native_msg){
		.magic = NATIVE_MAGIC,
		.proto_version = NATIVE_PROTO_VERSION,
		.layout_version = NATIVE_LAYOUT_VERSION,
		.type = type,
		.generation = nw->generation,
		.capacity = nw->cur.capacity,
		.max_readers = nw->max_readers,
		.flags = nw->kind == SEG_HUGETLBFS ? NATIVE_FLAG_UNSEALED : 0,
		.nr_fds = type == NATIVE_MSG_HELLO ? 4 : type == NATIVE_MSG_GENERATION ? 2 : 0,
	};
	snprintf(m->name, sizeof(m->name), "%s", nw->name);
}

/* Larger copies for a payload of @len bytes, in nw->next: private to the
 * writer until the write that fills them publishes. A write that fails or
 * is aborted drops them, and nothing a reader or `mmsync stat` sees has
 * changed. */
static int generation_prepare(struct native_writer *nw, uint64_t len)
{
	uint64_t cap = nw->cur.capacity * 2;
	if (cap < len + len / 2)
		cap = len + len / 2;
	if (cap > MMSYNC_MAX_PAYLOAD + 1)
		cap = MMSYNC_MAX_PAYLOAD + 1;
	return copies_create(nw, round_up(cap, nw->page), &nw->next);
}

/* The copy filled stays the writer's; larger copies made for the write
 * are dropped, never seen by a reader. */
static void drop_next(struct native_writer *nw)
{
	if (nw->fill == &nw->next)
		copies_destroy(&nw->next);
	nw->fill = &nw->cur;
}

/* The generation takes effect, right before the store of li that publishes
 * its first version; the caller holds nw->lock from here through that store
 * (native_service.c, rule 4), so that a handshake hands out the old
 * generation before, to a reader sent the new one here, or the new one
 * after. Connected readers, pending ones first adopted, get the new
 * descriptors before any version names them, so that a reader that sees
 * the new generation in a descriptor finds them already queued on its
 * socket; a live reader that cannot be sent them is revoked, a dead one
 * marked to be taken back once the lock is dropped. Readers still on an
 * old copy keep their own mapping of it; the writer never writes an old
 * copy again. Return: the old copies, for the caller to destroy after. */
static struct copies generation_commit(struct native_writer *nw)
{
	struct copies old = nw->cur;

	adopt_locked(nw);
	nw->cur = nw->next;
	nw->next = no_copies;
	nw->fill = &nw->cur;
	nw->generation++;

	struct native_msg m;
	fill_msg(nw, &m, NATIVE_MSG_GENERATION);
	for (unsigned i = nw->max_readers; i < nr_slots(nw); i++) {
		struct wslot *ws = &nw->slots[i];
		if (ws->kind != SLOT_OWN || ws->revoked)
			continue;
		int err = fdpass_send(ws->conn, &m, sizeof(m), nw->cur.ro, 2);
		if (err && slot_drop_live(nw, i, "could not be sent a generation"))
			ws->reclaim_due = true;
	}
	atomic_store(&nw->h->populated[0], nw->cur.populated[0]);
	atomic_store(&nw->h->populated[1], nw->cur.populated[1]);
	atomic_store(&nw->h->capacity, nw->cur.capacity);
	atomic_store(&nw->h->generation, nw->generation);
	return old;
}

/* Makes the first @len bytes of copy @c of the set being filled exist and
 * mapped in the writer, so that filling them takes no page fault. Readers
 * map what the header says is populated when they map the copies, and
 * more when a version needs it. */
static int copy_prefault(struct native_writer *nw, unsigned c, uint64_t len)
{
	struct copies *cs = nw->fill;
	if (len <= cs->populated[c])
		return 0;
	uint64_t end = round_up(len, nw->page);
	int err = uring_prefault(&nw->ring, cs->seg[c].fd, cs->seg[c].map, cs->populated[c],
				 end - cs->populated[c]);
	if (err)
		return err;
	cs->populated[c] = end;
	if (cs == &nw->cur)
		atomic_store(&nw->h->populated[c], end);
	return 0;
}

/* Everything before the bytes go in: the waits of the last publish, the
 * copies of a new generation if @room bytes do not fit, the copy
 * prefaulted. Return: 0 with *cp the copy of nw->fill to fill, or -errno
 * with nothing published and nothing visible changed. */
static int prepare(struct native_writer *nw, uint64_t room, uint64_t grace_ns, unsigned *cp,
		   unsigned *evicted)
{
	int err;

	adopt(nw); /* readers served since: into the waits (native_service.c) */
	*evicted = finish_waits(nw, grace_ns);
	if (nw->barrier_down)
		fenceless_revoke(nw);
	/* Counts bumped (EVICT, REVOKE, REVOKE-FENCELESS) before any byte of
	 * the FILL: the writer's half of the seqlock (docs/protocol.md). */
	atomic_thread_fence(memory_order_release);
	nw->fill = &nw->cur;
	if (room > nw->cur.capacity) {
		if ((err = generation_prepare(nw, room)))
			return err;
		nw->fill = &nw->next;
	}
	/* Nobody reads copy c now: no arrival before the waits can see li == c,
	 * and every arrival after them reads li, which is !c. (A new
	 * generation's copies were never read.) */
	*cp = !atomic_load(&nw->h->li);
	if ((err = copy_prefault(nw, *cp, room)))
		drop_next(nw);
	return err;
}

static void publish(struct native_writer *nw, unsigned c, size_t len, unsigned evicted,
		    struct mmsync_write_info *info)
{
	uint64_t hash = nw->checksum ? mmsync_hash(nw->fill->seg[c].map, len) : 0;
	uint64_t version = (uint64_t)c | (uint64_t)len << 1 | (hash & 0xffffff) << 40;
	bool grows = nw->fill == &nw->next;
	struct copies old = no_copies;
	if (grows) {
		pthread_mutex_lock(&nw->lock);
		old = generation_commit(nw);
	}
	nw->seq++;
	nw->h->copy[c] = (struct native_copy_desc){ version, nw->seq, nw->generation };
	atomic_store(&nw->h->li, c); /* PUBLISH: seq_cst orders the copy before it */
	if (grows) {
		pthread_mutex_unlock(&nw->lock);
		copies_destroy(&old);
		for (unsigned i = nw->max_readers; i < nr_slots(nw); i++)
			if (nw->slots[i].reclaim_due)
				slot_reclaim(nw, i, 0);
	} else {
		adopt(nw); /* after the store of li (native_service.c, rule 3) */
	}
	nw->pending = true;

	/* The figures, WAKE and the NOTE of fenced slots in one scan: before
	 * the BARRIER, which a woken reader need not wait for (measured: 1.4
	 * us sooner with a fenceless reader connected). seq after li: a reader
	 * woken by it reads the new copy. */
	atomic_store(&nw->h->seq, nw->seq); /* seq_cst: then WAKE's loads */
	atomic_store_explicit(&nw->h->version, version, memory_order_relaxed);
	/* The coarse clock: a few ms of resolution for a figure, at a tenth
	 * of the fine clock's cost in this VM. */
	atomic_store_explicit(&nw->h->last_publish_ns, now_ns(CLOCK_REALTIME_COARSE),
			      memory_order_relaxed);
	publish_scan(nw); /* the figures, WAKE, BARRIER, NOTE */
	if (info)
		*info = (struct mmsync_write_info){
			.written = len, .version = version, .seq = nw->seq, .evicted = evicted,
		};
}

/*
 * A plain memcpy into the prefaulted copy. Measured with
 * tools/bench/write_copies.c on this 2-core machine, 64 MiB, medians of 33
 * rounds over 5 runs: 4 MiB pieces each preceded by a prefetch of the next
 * are 5-20 % slower; two threads copying half each are 24-77 % faster, but
 * they take the second core from the readers, which a writer must not do
 * behind their back.
 * mmsync_write() reaches 0.93-1.24 of memcpy from 1 MiB up as it is.
 */
int native_write(struct native_writer *nw, const void *data, size_t len, uint64_t grace_ns,
		 struct mmsync_write_info *info)
{
	unsigned c, evicted;
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, len, grace_ns, &c, &evicted))) {
		if (len)
			memcpy(nw->fill->seg[c].map, data, len);
		publish(nw, c, len, evicted, info);
	}
	writer_exit(nw);
	return err;
}

int native_write_from_fd(struct native_writer *nw, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	bool direct = fl & O_DIRECT;
	/* O_DIRECT reads whole blocks: the copy needs room for the rounding. */
	uint64_t room = direct ? round_up(len, DIRECT_ALIGN) : len;
	if (direct && offset >= 0 && offset % DIRECT_ALIGN)
		return -EINVAL;

	unsigned c, evicted;
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, room, grace_ns, &c, &evicted))) {
		err = uring_read_into(&nw->ring, fd, offset, nw->fill->seg[c].map, len, nw->chunk,
				      nw->depth, direct, DIRECT_ALIGN);
		if (err)
			drop_next(nw); /* the current version and generation stand */
		else
			publish(nw, c, len, evicted, info);
	}
	writer_exit(nw);
	return err;
}

int native_write_begin(struct native_writer *nw, size_t len, uint64_t grace_ns, void **ptr)
{
	int err = writer_enter(nw);
	if (err)
		return err;
	if (!(err = prepare(nw, len, grace_ns, &nw->build, &nw->build_evicted)))
		*ptr = nw->fill->seg[nw->build].map;
	writer_exit(nw);
	return err;
}

int native_write_commit(struct native_writer *nw, size_t len, struct mmsync_write_info *info)
{
	int err = writer_enter(nw);
	if (err)
		return err;
	publish(nw, nw->build, len, nw->build_evicted, info);
	writer_exit(nw);
	return 0;
}

int native_write_abort(struct native_writer *nw)
{
	int err = writer_enter(nw);
	if (err)
		return err; /* a forked child's copy: nothing of the parent's to drop */
	drop_next(nw);
	writer_exit(nw);
	return 0;
}
