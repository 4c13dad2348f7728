/* SPDX-License-Identifier: MIT */
/*
 * The service thread (mmsync_writer_listen() with MMSYNC_LISTEN_SERVE), and
 * the rule by which the caller's calls on a native writer, the handshakes
 * and that thread share it.
 *
 * The locking rule.
 *  1. The writer's state (struct wslot and the slots behind it, the list
 *     the waits scan, the copies, the header's figures and its BPF mirror,
 *     the connections of adopted readers) belongs to whoever is in: the
 *     caller inside a call (writer_enter() .. writer_exit(), native_writer.h)
 *     or the service thread inside a section (section_enter() ..
 *     section_exit()). in_write and in_section are a Dekker pair: each side
 *     stores its own flag, then loads the other's (seq_cst). The thread
 *     enters only while no call is under way, and backs off otherwise; a
 *     call waits (on section_mx) only when it finds the thread inside, which
 *     is bounded work: a dispatch, no wait on any other process. A call
 *     thus costs one store, one load and one release store: no lock.
 *  2. nw->lock guards, in short sections only, what a handshake needs and a
 *     write may change: which own slots are handed out (taken), the readers
 *     accepted but not adopted yet (pend), and the generation a hello hands
 *     out (nw->generation, nw->cur's descriptors and capacity, which change
 *     only with the lock held). A handshake takes it and nothing of rule 1,
 *     so a reader connecting while a write waits out its grace period is
 *     served at once: no lock is held across a write's waits. A write takes
 *     it only when the slot table changes: a reader to adopt (`adopt`
 *     raised), a dead socket reader's slot to free, a new generation.
 *  3. Adoption. A handshake adds its reader to pend and raises `adopt`
 *     (seq_cst), under the lock, before it sends the hello. The writer takes
 *     pend into its slots (adopt()) at the start of each write and right
 *     after the store of li that publishes; the thread in each section. A
 *     reader not adopted after a store of li raised `adopt` after the
 *     writer's load of it, hence after that store, and loads li only after
 *     its hello: it reads the copy just published, which the next fill does
 *     not touch, and it is adopted before the fill after that. Adopting
 *     after the store also puts a fenceless reader that may have loaded the
 *     old li among those that decide the membarrier.
 *  4. Generations. Switching to the new copies, sending GENERATION to every
 *     adopted and pending reader (adopted first), and the store of li that
 *     publishes the generation's first version happen under one hold of the
 *     lock: a reader connecting meanwhile gets the old generation's hello
 *     before (and then the message) or the new one's after, once li names it.
 *  5. fork(). A handshake opens the description that carries the new
 *     reader's lock, sends it and closes it under nw->lock; fork handlers
 *     take the lock of every listening writer around fork(), in the
 *     caller's dispatch as with the service thread. No child inherits such a
 *     description: it would keep that reader alive in the writer's eyes
 *     (revoked, not taken back, when it leaves) for as long as the child
 *     lives. The log callback runs under nw->lock at times (rule 4): it
 *     must not fork().
 *  6. Order: a section or a call first, then nw->lock; the fork handlers
 *     take registry_mx, then each writer's lock. Nobody waits for a section
 *     or a call while holding a lock. logf_() runs in both threads, in
 *     generation commits with the lock held.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "native_writer.h"

#define REFRESH_NS 100000000ull	/* figures refreshed every 100 ms */
#define RETRY_MS 10		/* connection events wait this long for a call to end */

/* ---- rule 1: sections ---- */

static bool section_enter(struct native_writer *nw)
{
	pthread_mutex_lock(&nw->section_mx);
	atomic_store(&nw->in_section, 1);
	if (!atomic_load(&nw->in_write))
		return true;
	atomic_store_explicit(&nw->in_section, 0, memory_order_release);
	pthread_mutex_unlock(&nw->section_mx);
	return false;
}

static void section_exit(struct native_writer *nw)
{
	atomic_store_explicit(&nw->in_section, 0, memory_order_release);
	pthread_mutex_unlock(&nw->section_mx);
}

/* A call found the thread inside a section: in_section is 1 only while
 * the thread holds section_mx, and it does not enter again while in_write
 * is set. */
void writer_wait_section(struct native_writer *nw)
{
	while (atomic_load(&nw->in_section)) {
		pthread_mutex_lock(&nw->section_mx);
		pthread_mutex_unlock(&nw->section_mx);
	}
}

/* A call in a process forked from the writer's, the first since the fork.
 * Without a service thread the child may take the writer over, as a daemon
 * does: it becomes the writer's process (the header names it), and the
 * parent must leave its copy alone. With one, the thread and what it holds
 * stayed in the parent, and the copy is refused. */
int writer_take_over(struct native_writer *nw)
{
	if (nw->serving)
		return -ECHILD;
	nw->pid = getpid();
	if (nw->fork_guard)
		*nw->fork_guard = 1;
	if (nw->h)
		atomic_store(&nw->h->writer_pid, (uint32_t)nw->pid);
	return 0;
}

/* ---- rules 2 and 3: own slots and adoption ---- */

void adopt_locked(struct native_writer *nw)
{
	for (unsigned k = 0; k < nw->n_pend; k++) {
		struct pending_reader *p = &nw->pend[k];
		nw->slots[p->i] = (struct wslot){
			.kind = SLOT_OWN, .s = p->obj.map, .obj = p->obj, .conn = p->conn,
		};
	}
	if (nw->n_pend)
		nw->active_dirty = true;
	/* The header's live_slots counted them as pending: now as adopted, so
	 * that it stays live_adopted + n_pend (native_slots.c, store_live()),
	 * whatever the next count finds. */
	nw->live_adopted += nw->n_pend;
	nw->n_pend = 0;
	atomic_store(&nw->adopt, 0);
}

void adopt(struct native_writer *nw)
{
	if (!atomic_load(&nw->adopt))
		return;
	pthread_mutex_lock(&nw->lock);
	adopt_locked(nw);
	pthread_mutex_unlock(&nw->lock);
}

/* Own slot @i may be handed out again (its reader's state is gone). */
void own_release(struct native_writer *nw, unsigned i)
{
	pthread_mutex_lock(&nw->lock);
	nw->taken[i] = false;
	pthread_mutex_unlock(&nw->lock);
}

/* ---- the thread ---- */

/*
 * Handshakes at once, whatever the writer does (rule 2). The rest (events
 * on connections, adoption, the figures) in a section: at once when the
 * writer is idle; while a call is under way, connection events wait for it
 * (retried every RETRY_MS) and the figures are left to the write, which
 * refreshes them as it publishes.
 */
static void *service_main(void *arg)
{
	struct native_writer *nw = arg;
	uint64_t due = now_ns(CLOCK_MONOTONIC) + REFRESH_NS;
	bool owed = false;	/* connection events wait for a section */
	bool stuck = false;	/* accept failed (EMFILE, ENOMEM): not at once again */

	for (;;) {
		struct pollfd p[3] = { { .fd = nw->stop_fd, .events = POLLIN } };
		unsigned n = 1, at_listen = 0, at_epoll = 0;
		if (!stuck) {
			p[n] = (struct pollfd){ .fd = nw->listen_fd, .events = POLLIN };
			at_listen = n++;
		}
		/* Owed events keep the epoll readable: left out meanwhile. */
		if (!owed) {
			p[n] = (struct pollfd){ .fd = nw->epoll, .events = POLLIN };
			at_epoll = n++;
		}
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		int ms = owed || stuck ? RETRY_MS
			 : due > now ? (int)((due - now + 999999) / 1000000) : 0;
		if (poll(p, n, ms) < 0)
			continue; /* EINTR: signals are blocked here, but a debugger */
		if (p[0].revents)
			break;
		bool accepted = false, retry = stuck;
		stuck = false;
		if (retry || (at_listen && p[at_listen].revents)) {
			while (accept_reader(nw))
				accepted = true;
			stuck = errno != EAGAIN; /* accept_reader() ends on accept4's error */
		}
		now = now_ns(CLOCK_MONOTONIC);
		bool events = owed || (at_epoll && p[at_epoll].revents);
		if (!events && !accepted && now < due)
			continue;
		if (section_enter(nw)) {
			dispatch_body(nw);
			section_exit(nw);
			owed = false;
			due = now + REFRESH_NS;
		} else {
			owed = events;
			if (now >= due)
				due = now + REFRESH_NS;
		}
	}
	return NULL;
}

int service_init(struct native_writer *nw)
{
	nw->pid = getpid();
	nw->stop_fd = -1;
	if (pthread_mutex_init(&nw->lock, NULL))
		return -ENOMEM;
	nw->lock_ok = true;
	if (pthread_mutex_init(&nw->hellos_mx, NULL))
		return -ENOMEM;
	nw->hellos_ok = true;
	if (pthread_mutex_init(&nw->section_mx, NULL))
		return -ENOMEM;
	nw->section_ok = true;
	nw->taken = calloc(nr_slots(nw), sizeof(*nw->taken));
	nw->pend = calloc(nw->max_readers, sizeof(*nw->pend));
	if (!nw->taken || !nw->pend)
		return -ENOMEM;
	/* Fork detection at the cost of a load: the page reads 0 in a child.
	 * Without MADV_WIPEONFORK (before Linux 4.14), getpid(). */
	long page = sysconf(_SC_PAGESIZE);
	void *g = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g != MAP_FAILED && madvise(g, (size_t)page, MADV_WIPEONFORK) == 0) {
		nw->fork_guard = g;
		*nw->fork_guard = 1;
	} else if (g != MAP_FAILED) {
		munmap(g, (size_t)page);
	}
	return 0;
}

void service_fini(struct native_writer *nw)
{
	if (nw->stop_fd >= 0)
		close(nw->stop_fd);
	nw->stop_fd = -1;
	if (nw->lock_ok)
		pthread_mutex_destroy(&nw->lock);
	if (nw->hellos_ok)
		pthread_mutex_destroy(&nw->hellos_mx);
	nw->hellos_ok = false;
	if (nw->section_ok)
		pthread_mutex_destroy(&nw->section_mx);
	nw->lock_ok = nw->section_ok = false;
	if (nw->fork_guard)
		munmap(nw->fork_guard, (size_t)sysconf(_SC_PAGESIZE));
	nw->fork_guard = NULL;
	free(nw->taken);
	free(nw->pend);
	nw->taken = NULL;
	nw->pend = NULL;
}

/* ---- rule 5: the listening writers, locked around fork() ---- */

static pthread_mutex_t registry_mx = PTHREAD_MUTEX_INITIALIZER;
static struct native_writer *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&registry_mx);
	for (struct native_writer *nw = registry; nw; nw = nw->listening_next)
		pthread_mutex_lock(&nw->lock);
}

/* In the parent and in the child alike: the forking thread took them. */
static void fork_done(void)
{
	for (struct native_writer *nw = registry; nw; nw = nw->listening_next)
		pthread_mutex_unlock(&nw->lock);
	pthread_mutex_unlock(&registry_mx);
}

static void atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* Into the list, before the first handshake (the caller's dispatch or the
 * service thread). */
void listening_add(struct native_writer *nw)
{
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&registry_mx);
	nw->listening_next = registry;
	registry = nw;
	nw->listening = true;
	pthread_mutex_unlock(&registry_mx);
}

/* Out of the list: the writer no longer handshakes (it closes, or listen
 * failed), or a forked child lets its copy go; the fork handlers must not
 * find it freed. */
void listening_remove(struct native_writer *nw)
{
	if (!nw->listening)
		return;
	pthread_mutex_lock(&registry_mx);
	for (struct native_writer **p = &registry; *p; p = &(*p)->listening_next)
		if (*p == nw) {
			*p = nw->listening_next;
			break;
		}
	nw->listening = false;
	pthread_mutex_unlock(&registry_mx);
}

/* Starts the thread, all signals blocked in it (they are the program's). */
int service_start(struct native_writer *nw)
{
	sigset_t all, old;

	nw->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nw->stop_fd < 0)
		return -errno;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	nw->serving = true;
	int err = pthread_create(&nw->thread, NULL, service_main, nw);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		nw->serving = false;
		close(nw->stop_fd);
		nw->stop_fd = -1;
		return -err;
	}
	pthread_setname_np(nw->thread, "mmsync-serve");
	return 0;
}

void service_stop(struct native_writer *nw)
{
	uint64_t one = 1;

	if (!nw->serving)
		return;
	while (write(nw->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(nw->thread, NULL);
	nw->serving = false;
}
