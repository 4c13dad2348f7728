/* SPDX-License-Identifier: MIT */
/*
 * A native writer's life: creating it (the header, its BPF mirror, the
 * copies, the slot table), closing it (in its own process, or a copy of it
 * inherited across fork(), which must leave the owner's segment alone), and
 * exporting descriptors for readers it starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "native_writer.h"
#include "opts.h"

/* write_from_fd: 1 MiB a request, 4 in flight. Over 5 runs of the sweep in
 * tools/bench/write_paths.c (256 KiB..4 MiB x depth 1..8, 256 MiB from the
 * page cache) these were 90-100 % of the best of the 9 settings, and the
 * best changed from run to run: all lie within the machine's noise. */
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_DEPTH 4

/* The header: a sealed memfd that readers map; and, when BPF is allowed
 * (the default), a mirror in a BPF map pinned with the metrics iterator
 * (see bpf_state.h for why readers cannot map the BPF map itself). */
static int state_create(struct native_writer *nw, unsigned flags)
{
	int err = segment_create(&nw->state, nw->name, SEG_MEMFD, NULL, NATIVE_STATE_SIZE,
				 NATIVE_SEALS_COPY);
	if (err)
		return err;
	nw->h = nw->state.map;
	/* Held while the writer lives: readers probe it (mmsync_reader_check()). */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (fcntl(nw->state.fd, F_OFD_SETLK, &fl))
		return -errno;
	if (flags & MMSYNC_BPF_OFF)
		return 0;
	err = bpf_state_create(&nw->bpf, nw->name, flags & MMSYNC_KEEP_PINS, &nw->mirror);
	if (!err)
		return 0;
	if (flags & MMSYNC_BPF_REQUIRE) {
		const char *why = err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)"
				  : err == -ENOSYS ? " (this libmmsync was built without BPF)"
				  : "";
		logf_(nw, "no BPF state map: %s%s", strerror(-err), why);
		return err;
	}
	if (err == -EEXIST) {
		logf_(nw, "a live writer has pinned %s/%s", BPF_PIN_ROOT, nw->name);
		return err;
	}
	nw->bpf = NULL;
	nw->mirror = NULL;
	return 0; /* figures from user space only: mmsync stat */
}

static void writer_free(struct native_writer *nw)
{
	for (unsigned k = 0; k < nw->n_hellos; k++)
		close(nw->hellos[k].conn);
	free(nw->slots);
	free(nw->active);
	free(nw->cand);
	free(nw->sock_path);
	free(nw->allow_uids);
	free(nw->allow_gids);
	free(nw->hugetlbfs_dir);
	free(nw);
}

/* Whether this process may undo what the writer made for all: the socket
 * file, the pins, the header's writer_pid. Only the writer's process (the
 * one the header names: its maker, or a child that took it over), or any
 * holder once that process has gone. Not a forked child's unused copy. */
static bool owns_shared(struct native_writer *nw)
{
	if (!nw->h)
		return true; /* nothing made for others yet */
	if (nw_forked(nw))
		return false;
	pid_t p = (pid_t)atomic_load(&nw->h->writer_pid);
	return p == getpid() || p <= 0 || (kill(p, 0) && errno == ESRCH);
}

/*
 * Close in a process that is not the writer's (mmsync.h, "fork()"): lets
 * go of this process's references (descriptors, mappings, memory) and
 * touches nothing the writer's process uses: no socket unlinked, no pin
 * removed, nothing stored in the header, no connection taken off the epoll
 * set both share, no lock of the writer's taken (the parent's service
 * thread may have been in a section at the fork). With that thread running
 * at the fork, slots and connections may have been mid-change in this copy:
 * their descriptors are left, close-on-exec, for the process's exit or exec
 * to drop.
 */
static void release_copy(struct native_writer *nw)
{
	for (unsigned i = nw->max_readers; nw->slots && !nw->serving && i < nr_slots(nw); i++) {
		struct wslot *ws = &nw->slots[i];
		if (ws->kind == SLOT_OWN && ws->conn >= 0)
			close(ws->conn);
		if (ws->kind == SLOT_OWN)
			segment_destroy(&ws->obj);
	}
	for (unsigned k = 0; !nw->serving && k < nw->n_pend; k++) {
		close(nw->pend[k].conn);
		segment_destroy(&nw->pend[k].obj);
	}
	listening_remove(nw); /* this process's fork handlers must not find it freed */
	if (nw->listen_fd >= 0)
		close(nw->listen_fd);
	if (nw->epoll >= 0)
		close(nw->epoll);
	if (nw->stop_fd >= 0)
		close(nw->stop_fd);
	copies_destroy(&nw->cur);
	copies_destroy(&nw->next);
	if (nw->state_ro >= 0)
		close(nw->state_ro);
	segment_destroy(&nw->state); /* the header's lock stays: the writer's description */
	bpf_state_release(nw->bpf);
	segment_destroy(&nw->table);
	uring_exit(&nw->ring);
	if (nw->fork_guard)
		munmap(nw->fork_guard, (size_t)sysconf(_SC_PAGESIZE));
	free(nw->taken);
	free(nw->pend);
	writer_free(nw);
}

void native_writer_close(struct native_writer *nw)
{
	if (!nw)
		return;
	if (!owns_shared(nw)) {
		release_copy(nw);
		return;
	}
	service_stop(nw);
	listening_remove(nw); /* no handshake from here on */
	if (nw->lock_ok)
		adopt(nw); /* readers served but not adopted: taken back below */
	if (nw->slots)
		for (unsigned i = nw->max_readers; i < nr_slots(nw); i++)
			if (nw->slots[i].kind == SLOT_OWN)
				slot_reclaim(nw, i, 0);
	if (nw->h) { /* no live writer: kept pins say so, and a new writer may take them */
		atomic_store(&nw->h->writer_pid, 0);
		mirror_sync(nw);
		/* The lock readers probe, dropped before their futex wake, so
		 * that mmsync_wait() finds the writer gone at once. */
		struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		fcntl(nw->state.fd, F_OFD_SETLK, &fl);
		wake_all_closing(nw);
	}
	if (nw->listen_fd >= 0)
		close(nw->listen_fd);
	if (nw->sock_path)
		unlink(nw->sock_path);
	if (nw->epoll >= 0)
		close(nw->epoll);
	copies_destroy(&nw->cur);
	copies_destroy(&nw->next);
	if (nw->state_ro >= 0)
		close(nw->state_ro);
	segment_destroy(&nw->state);
	bpf_state_destroy(nw->bpf);
	segment_destroy(&nw->table);
	uring_exit(&nw->ring);
	service_fini(nw);
	writer_free(nw);
}


int mmsync_writer_create(struct mmsync_writer **wp, const char *name,
			 const struct mmsync_native_opts *opts)
{
	int err;

	if (!wp)
		return -EINVAL;
	*wp = NULL;
	if (native_name_valid(name))
		return -EINVAL;
	struct log l = OPTS_LOG(opts, name);
	if (opts_check(opts, sizeof(*opts), &l, "mmsync_writer_create", "mmsync_native_opts"))
		return -EINVAL;
	unsigned flags = OPTS_GET(opts, flags, 0);
	unsigned max_readers = OPTS_GET(opts, max_readers, 0);
	uint64_t capacity = OPTS_GET(opts, capacity, 0);
	const char *dir = OPTS_GET(opts, hugetlbfs_dir, NULL);
	if (opts_flags_check(flags, MMSYNC_HUGETLB | MMSYNC_CHECKSUM | MMSYNC_BPF_OFF |
			     MMSYNC_BPF_REQUIRE | MMSYNC_KEEP_PINS, &l, "mmsync_writer_create",
			     "mmsync_native_opts"))
		return -EINVAL;
	if ((flags & MMSYNC_BPF_OFF && flags & (MMSYNC_BPF_REQUIRE | MMSYNC_KEEP_PINS)) ||
	    max_readers > NATIVE_MAX_READERS ||
	    OPTS_GET(opts, queue_depth, 0) > 4096 || OPTS_GET(opts, chunk_size, 0) > (1u << 30) ||
	    capacity > MMSYNC_MAX_PAYLOAD + 1 || ((flags & MMSYNC_HUGETLB) && dir)) {
		log_msg(&l, "mmsync_writer_create(): opts out of range: flags 0x%x (MMSYNC_BPF_OFF "
			"goes with neither _REQUIRE nor _KEEP_PINS, MMSYNC_HUGETLB not with "
			"hugetlbfs_dir), max_readers %u (at most %u), capacity %llu (at most 2^39), "
			"queue_depth (at most 4096), chunk_size (at most 1 GiB)", flags, max_readers,
			NATIVE_MAX_READERS, (unsigned long long)capacity);
		return -EINVAL;
	}

	struct native_writer *nw = calloc(1, sizeof(*nw));
	struct mmsync_writer *w = writer_alloc();
	if (!nw || !w) {
		free(nw);
		free(w);
		return -ENOMEM;
	}
	w->native = nw;
	snprintf(nw->name, sizeof(nw->name), "%s", name);
	nw->state = nw->table = (struct segment){ .fd = -1 };
	nw->cur = nw->next = no_copies;
	nw->fill = &nw->cur;
	nw->state_ro = nw->epoll = nw->listen_fd = -1;
	nw->kind = dir ? SEG_HUGETLBFS : (flags & MMSYNC_HUGETLB) ? SEG_HUGETLB : SEG_MEMFD;
	nw->max_readers = max_readers ? max_readers : NATIVE_DEFAULT_READERS;
	if ((err = service_init(nw)))
		goto fail;
	nw->log = OPTS_GET(opts, log, NULL);
	nw->log_ctx = OPTS_GET(opts, log_ctx, NULL);
	nw->checksum = flags & MMSYNC_CHECKSUM;
	nw->chunk = OPTS_GET(opts, chunk_size, 0);
	nw->depth = OPTS_GET(opts, queue_depth, 0);
	nw->chunk = nw->chunk ? round_up(nw->chunk, DIRECT_ALIGN) : DEFAULT_CHUNK;
	nw->depth = nw->depth ? nw->depth : DEFAULT_DEPTH;
	uring_init(&nw->ring, nw->depth > 8 ? nw->depth : 8);
	nw->generation = 1;
	if (dir && !(nw->hugetlbfs_dir = strdup(dir))) {
		err = -ENOMEM;
		goto fail;
	}

	nw->page = segment_page_size(nw->kind, dir);
	if (nw->page < 0) {
		err = (int)nw->page;
		if (nw->kind != SEG_MEMFD)
			logf_(nw, "no huge pages here (%s)", strerror(-err));
		goto fail;
	}
	capacity = round_up(capacity ? capacity : NATIVE_DEFAULT_CAPACITY, nw->page);

	if ((err = state_create(nw, flags)))
		goto fail;
	nw->h->magic = NATIVE_MAGIC;
	nw->h->layout_version = NATIVE_LAYOUT_VERSION;
	nw->h->header_size = sizeof(*nw->h);
	nw->h->max_readers = nw->max_readers;
	nw->h->generation = nw->generation;
	nw->h->capacity = capacity;
	nw->h->copy[0].generation = nw->h->copy[1].generation = nw->generation;
	nw->h->writer_pid = (uint32_t)getpid();
	nw->h->flags = nw->checksum ? NATIVE_HDR_CHECKSUM : 0;
	/* Readers may go fenceless only if this writer can issue the barrier
	 * that stands in for their fence (seccomp may forbid it). */
	nw->barrier_down = syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0;
	nw->h->fenceless_ok = !nw->barrier_down;
	if (nw->barrier_down)
		logf_(nw, "membarrier: %s: readers will read fenced", strerror(errno));
	snprintf(nw->h->name, sizeof(nw->h->name), "%s", name);
	if ((err = copies_create(nw, capacity, &nw->cur)))
		goto fail;
	if ((nw->state_ro = segment_reopen(nw->state.fd, O_RDONLY)) < 0) {
		err = nw->state_ro;
		goto fail;
	}

	size_t table_len = round_up(nw->max_readers * sizeof(struct native_slot), sysconf(_SC_PAGESIZE));
	if ((err = segment_create(&nw->table, name, SEG_MEMFD, NULL, table_len, NATIVE_SEALS_SIZE)))
		goto fail;
	nw->slots = calloc(nr_slots(nw), sizeof(*nw->slots));
	nw->active = calloc(nr_slots(nw), sizeof(*nw->active));
	nw->cand = calloc(nr_slots(nw), sizeof(*nw->cand));
	if (!nw->slots || !nw->active || !nw->cand) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < nr_slots(nw); i++) {
		nw->slots[i] = (struct wslot){ .conn = -1, .obj = { .fd = -1 } };
		if (i < nw->max_readers) {
			nw->slots[i].kind = SLOT_TABLE;
			nw->slots[i].s = (struct native_slot *)nw->table.map + i;
		}
	}
	nw->epoll = fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
	if (nw->epoll < 0) {
		err = nw->epoll;
		goto fail;
	}
	mirror_sync(nw);
	*wp = w;
	return 0;
fail:
	mmsync_writer_close(w);
	return err;
}

int mmsync_writer_export_fds(struct mmsync_writer *w, int fds[MMSYNC_NR_FDS])
{
	struct native_writer *nw = nw_of(w);
	if (!nw || !fds)
		return -EINVAL;
	int err = writer_enter(nw);
	if (err)
		return err;
	int src[MMSYNC_NR_FDS] = { nw->state_ro, nw->cur.ro[0], nw->cur.ro[1], nw->table.fd };
	nw->table_used = nw->active_dirty = true;
	writer_exit(nw); /* the rest is this call's own */
	for (int i = 0; i < MMSYNC_NR_FDS; i++) {
		/* The table: a description of its own for this set, so that a
		 * reader that cannot reopen it (no /proc) still locks its slot
		 * apart from the writer's probes and from other sets. The
		 * others are read-only descriptions, shared. */
		fds[i] = i == MMSYNC_FD_SLOTS ? segment_reopen(src[i], O_RDWR)
					      : fcntl(src[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0) {
			err = i == MMSYNC_FD_SLOTS ? fds[i] : -errno;
			while (i--)
				close(fds[i]);
			return err;
		}
	}
	return 0;
}
