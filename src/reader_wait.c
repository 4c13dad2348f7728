/* SPDX-License-Identifier: MIT */
/*
 * Sleeping until a new version: mmsync_wait() and the descriptor of
 * mmsync_reader_fd(), on both layouts (docs/protocol.md, "Waking readers";
 * the writer's side is src/native_wake.c).
 *
 * Native. A reader says in its slot's wait word that it sleeps, with the
 * seq of its last read (WAIT-ARM), then loads the header's seq again
 * (WAIT-RECHECK): the writer stores seq, then looks at the words, so one of
 * the two sees the other and no wake-up is lost (tests/wake.pml).
 *  - mmsync_wait() sleeps on a futex, the low half of seq (WAIT-SLEEP):
 *    the kernel compares the word before it sleeps, which is the re-check
 *    against a publish between the load and the sleep. A futex cannot also
 *    watch the connection, so a sleep lasts at most DEATH_PROBE_NS before
 *    the writer's lock is probed: the writer's death is seen within that
 *    (its close wakes sleepers at once). Measured here (tools/bench,
 *    wake_latency.c): a futex wakes a sleeper sooner than an eventfd under
 *    epoll (by 1-4 us of 60-90 here) and costs the writer one call for all
 *    sleepers, where messages cost one each: hence the futex.
 *  - the descriptor is an epoll set of the connection, on which the writer
 *    sends a WAKE message (and which hangs up when the writer dies or drops
 *    us), and of an eventfd the reader signals itself when WAIT-RECHECK
 *    finds a version already there. Every read of the handle re-arms it
 *    (DRAIN, WAIT-ARM, WAIT-RECHECK), so it is readable only while a
 *    version newer than the last read may be there (or after a hang-up):
 *    at most one spurious wake-up per publish, never a spin.
 *
 * Compat. The crate's writer wakes no one, and the 16-byte state file has
 * no room for a flag: mmsync_wait() sleeps on a futex on the low half of
 * the version word for at most COMPAT_POLL_NS at a time, then looks again.
 * mmsync's compat writer with MMSYNC_WAKE_WAITERS wakes the futex at each
 * publish (one system call, whether or not anyone waits). The descriptor
 * is a timer firing COMPAT_POLL_NS after each read (at once when a version
 * is there already). A reader made from exported descriptors has no
 * connection: its descriptor is such a timer too.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fdpass.h"
#include "fds.h"
#include "reader.h"
#include "wait.h"

#define DEATH_PROBE_NS 200000000ull	/* native: longest futex sleep */
#define COMPAT_POLL_NS 10000000ull	/* compat: longest futex sleep, timer period */

/* A version since the handle's last read, at @key (native: seqs only
 * grow; compat: the version word differs). */
static bool newer(const struct mmsync_reader *r, uint64_t key)
{
	return r->native ? key > r->f.last_key : key != r->f.last_key;
}

/* Whether a read now would find a version newer than the last one. */
static bool version_waits(struct mmsync_reader *r)
{
	if (r->native)
		return newer(r, atomic_load(&r->n.h->seq));
	return compat_state_map(r) == 0 && newer(r, atomic_load(&r->state->version));
}

/* WAIT-ARM for mmsync_wait(): the FD bit, the descriptor's, is kept. */
static void arm_futex(struct native_slot *s, uint64_t last)
{
	uint64_t w = atomic_load(&s->wait);
	while (!atomic_compare_exchange_weak(&s->wait, &w,
					     last << WAIT_SEQ_SHIFT | (w & WAIT_FD) | WAIT_FUTEX))
		;
}

static int native_wait(struct mmsync_reader *r, uint64_t timeout_ns)
{
	struct native_slot *s = r->n.slot;
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	bool probe = true; /* look for the writer before sleeping */
	int err;

	arm_futex(s, r->f.last_key); /* WAIT-ARM */
	for (;;) {
		uint64_t seq = atomic_load(&r->n.h->seq); /* WAIT-RECHECK */
		if (newer(r, seq)) {
			err = 0;
			break;
		}
		if (probe && (err = native_reader_check(r)))
			break; /* -EPIPE: the writer has gone; -ECONNRESET: revoked */
		uint64_t spent = now_ns(CLOCK_MONOTONIC) - start;
		if (spent >= timeout_ns) {
			err = -ETIMEDOUT;
			break;
		}
		uint64_t left = timeout_ns - spent;
		/* WAIT-SLEEP. A signal (-EINTR) sleeps again with the time left;
		 * a wake or the end of a sleep without a publish (the writer
		 * closing, or the probe's turn) looks for the writer again. */
		int rc = futex_wait(low_half(&r->n.h->seq), (uint32_t)seq,
				    left < DEATH_PROBE_NS ? left : DEATH_PROBE_NS);
		probe = rc == 0 || rc == -ETIMEDOUT;
	}
	atomic_fetch_and(&s->wait, ~(uint64_t)WAIT_FUTEX); /* WAIT-DISARM */
	return err;
}

static int compat_wait(struct mmsync_reader *r, uint64_t timeout_ns)
{
	uint64_t start = now_ns(CLOCK_MONOTONIC);

	for (;;) {
		/* No state file yet: no writer yet; look again at each turn. */
		int err = compat_state_map(r);
		if (err && err != -ENOENT)
			return err;
		uint64_t v = err ? 0 : atomic_load(&r->state->version);
		if (!err && newer(r, v))
			return 0;
		uint64_t spent = now_ns(CLOCK_MONOTONIC) - start;
		if (spent >= timeout_ns)
			return -ETIMEDOUT;
		uint64_t left = timeout_ns - spent, nap = left < COMPAT_POLL_NS ? left : COMPAT_POLL_NS;
		if (err) {
			struct timespec ts = { 0, (long)nap };
			nanosleep(&ts, NULL);
		} else {
			futex_wait(low_half(&r->state->version), (uint32_t)v, nap);
		}
	}
}

int mmsync_wait(struct mmsync_reader *r, uint64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	if (r->f.nreads & 1)
		return -EBUSY;
	return r->native ? native_wait(r, timeout_ns) : compat_wait(r, timeout_ns);
}

/* ---- the descriptor ---- */

/* Timer: fires after COMPAT_POLL_NS, or at once when a version is there. */
static void timer_arm(struct mmsync_reader *r)
{
	uint64_t ns = version_waits(r) ? 1 : COMPAT_POLL_NS;
	struct itimerspec its = { .it_value = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) } };
	timerfd_settime(r->watch_fd, 0, &its, NULL); /* also clears a past expiry */
}

/* DRAIN: the WAKE message queued (a GENERATION message is left for
 * TAKE-UP), and the reader's own signal if it gave one. The writer sends
 * one WAKE per arm: a second, rare, makes one spurious wake-up, and the
 * read after it drains that one. */
static void drain(struct mmsync_reader *r)
{
	struct native_msg m;
	int fds[FDPASS_MAX_FDS];
	unsigned nfds;

	ssize_t len = recv(r->n.conn, &m, sizeof(m), MSG_PEEK | MSG_DONTWAIT);
	if (len == (ssize_t)sizeof(m) && !native_msg_check(&m, (size_t)len, NATIVE_MSG_WAKE, 0) &&
	    fdpass_recv(r->n.conn, &m, sizeof(m), MSG_DONTWAIT, fds, FDPASS_MAX_FDS, &nfds) >= 0)
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]); /* a WAKE carries none: one that does is not ours to keep */
	uint64_t v;
	if (r->self_signalled && read(r->self_fd, &v, sizeof(v)) == sizeof(v))
		r->self_signalled = false;
}

void watch_rearm(struct mmsync_reader *r)
{
	if (r->watch_timer) {
		timer_arm(r);
		return;
	}
	drain(r); /* DRAIN */
	/* WAIT-ARM: the futex bit is clear here (mmsync_wait() clears it
	 * before it returns, and a handle is used by one thread at a time). */
	atomic_store(&r->n.slot->wait, r->f.last_key << WAIT_SEQ_SHIFT | WAIT_FD);
	if (version_waits(r)) { /* WAIT-RECHECK */
		uint64_t one = 1;
		/* cannot fail: the count is far from its limit */
		r->self_signalled = write(r->self_fd, &one, sizeof(one)) == sizeof(one);
	}
}

void watch_close(struct mmsync_reader *r)
{
	if (r->watch_fd >= 0 && r->native && !r->watch_timer)
		atomic_fetch_and(&r->n.slot->wait, ~(uint64_t)WAIT_FD);
	if (r->watch_fd >= 0)
		close(r->watch_fd);
	if (r->self_fd >= 0)
		close(r->self_fd);
	r->watch_fd = r->self_fd = -1;
	r->self_signalled = false;
}

/* Makes the descriptor; on error the caller closes what was made. */
static int watch_open(struct mmsync_reader *r)
{
	int fd;

	/* Every read goes through the library, which re-arms the descriptor. */
	r->f.mode |= MMSYNC_FAST_CALL;
	r->watch_timer = !r->native || r->n.conn < 0;
	if (r->watch_timer) {
		fd = fd_above_stdio(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
		if (fd < 0)
			return fd;
		r->watch_fd = fd;
		return 0;
	}
	fd = fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
	if (fd < 0)
		return fd;
	r->watch_fd = fd;
	fd = fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (fd < 0)
		return fd;
	r->self_fd = fd;
	struct epoll_event ev = { .events = EPOLLIN };
	if (epoll_ctl(r->watch_fd, EPOLL_CTL_ADD, r->n.conn, &ev) ||
	    epoll_ctl(r->watch_fd, EPOLL_CTL_ADD, r->self_fd, &ev))
		return -errno;
	return 0;
}

int mmsync_reader_fd(struct mmsync_reader *r)
{
	if (!r)
		return -EINVAL;
	if (r->watch_fd >= 0)
		return r->watch_fd;
	int err = watch_open(r);
	if (err) {
		watch_close(r);
		return err;
	}
	watch_rearm(r);
	return r->watch_fd;
}
