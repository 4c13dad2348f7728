/* SPDX-License-Identifier: MIT */
/*
 * The native writer's socket: listening (a path, an abstract name, or
 * systemd's socket), the handshake that hands a reader its descriptors and
 * slot, and the connections, on which readers send nothing. Handshakes run
 * in the caller's dispatch or in the service thread, under the rule at the
 * top of native_service.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "fdpass.h"
#include "native_writer.h"
#include "opts.h"

/* ---- serving ---- */

/* A peer connecting in a loop must not make the writer (or its log) do
 * nothing else: a dispatch accepts this many connections at most, the rest
 * stay queued for the next; refusals are logged ten a second at most, and
 * those left out are counted in a line when their second is over. */
#define ACCEPTS_PER_DISPATCH 16
#define REFUSALS_PER_SECOND 10
#define SECOND_NS 1000000000ull
#define MMSYNC_STR_(x) #x
#define MMSYNC_STR(x) MMSYNC_STR_(x)

/* Ends the current second of refusals: says how many went unlogged. */
static void refusals_flush(struct native_writer *nw, uint64_t now)
{
	if (now - nw->refusal_window_ns < SECOND_NS)
		return;
	if (nw->refusals_quiet)
		logf_(nw, "refused %u more peers in the last %.1f s", nw->refusals_quiet,
		      (double)(now - nw->refusal_window_ns) / 1e9);
	nw->refusal_window_ns = now;
	nw->refusals_logged = nw->refusals_quiet = 0;
}

static void log_refusal(struct native_writer *nw, const struct ucred *cr, const char *why)
{
	refusals_flush(nw, now_ns(CLOCK_MONOTONIC));
	if (nw->refusals_logged == REFUSALS_PER_SECOND) {
		nw->refusals_quiet++;
		return;
	}
	nw->refusals_logged++;
	logf_(nw, "refused peer pid %d uid %u gid %u: %s", (int)cr->pid, (unsigned)cr->uid,
	      (unsigned)cr->gid, why);
}

static bool peer_allowed(struct native_writer *nw, const struct ucred *cr)
{
	if (!nw->n_uids && !nw->n_gids)
		return cr->uid == geteuid() || cr->uid == 0;
	for (size_t i = 0; i < nw->n_uids; i++)
		if (nw->allow_uids[i] == cr->uid)
			return true;
	for (size_t i = 0; i < nw->n_gids; i++)
		if (nw->allow_gids[i] == cr->gid)
			return true;
	return false;
}

static void refuse(struct native_writer *nw, int conn, int error)
{
	struct native_msg m;
	pthread_mutex_lock(&nw->lock);
	fill_msg(nw, &m, NATIVE_MSG_HELLO);
	pthread_mutex_unlock(&nw->lock);
	m.error = error;
	m.nr_fds = 0;
	fdpass_send(conn, &m, sizeof(m), NULL, 0);
	close(conn);
}

/*
 * Hellos in flight. A peer that never reads its hello keeps the descriptors
 * it carries in flight, charged by the kernel to the writer's user (up to
 * RLIMIT_NOFILE, past which every send fails), and its slot taken. So at
 * most HELLOS_UNREAD_MAX hellos may be unread at a time (a peer past that
 * is told to try again), and one unread for HELLO_TIMEOUT_NS ends its
 * connection: the writer then revokes that reader as any other whose
 * connection fails, and takes its slot back once it has gone.
 */

/* Forgets the hellos that were read (or whose peer has gone: its queue is
 * freed either way), ends the connections of those unread too long.
 * Return: how many are unread. */
static unsigned hellos_check(struct native_writer *nw, uint64_t now)
{
	pthread_mutex_lock(&nw->hellos_mx);
	for (unsigned k = 0; k < nw->n_hellos;) {
		struct hello_sent *h = &nw->hellos[k];
		int queued = 0;
		bool timed_out = now - h->sent_ns >= HELLO_TIMEOUT_NS;
		if (ioctl(h->conn, SIOCOUTQ, &queued) == 0 && queued > 0 && !timed_out) {
			k++;
			continue;
		}
		if (queued > 0) {
			logf_(nw, "peer pid %d did not read its handshake in %llu s: disconnected",
			      (int)h->pid, HELLO_TIMEOUT_NS / SECOND_NS);
			shutdown(h->conn, SHUT_RDWR); /* the writer's epoll sees it */
		}
		close(h->conn);
		*h = nw->hellos[--nw->n_hellos];
	}
	unsigned n = nw->n_hellos;
	pthread_mutex_unlock(&nw->hellos_mx);
	return n;
}

void hello_forget(struct native_writer *nw, unsigned i)
{
	if (!nw->hellos_ok)
		return;
	pthread_mutex_lock(&nw->hellos_mx);
	for (unsigned k = 0; k < nw->n_hellos; k++)
		if (nw->hellos[k].slot == i) {
			close(nw->hellos[k].conn);
			nw->hellos[k] = nw->hellos[--nw->n_hellos];
			break;
		}
	pthread_mutex_unlock(&nw->hellos_mx);
}

/* Under nw->lock: a free own slot for @p, which joins the pending readers
 * (adoption is announced before the hello: native_service.c, rule 3), and
 * the hello with the generation of now, carrying a description of the slot
 * object read-locked for the reader alone, open here only under the lock
 * (rule 5). Return: 0, -EUSERS, or an error (then nothing is left of it
 * in the lists). */
static int handshake_locked(struct native_writer *nw, struct pending_reader *p)
{
	unsigned i;
	if (hellos_check(nw, now_ns(CLOCK_MONOTONIC)) >= HELLOS_UNREAD_MAX)
		return -EINPROGRESS;
	for (i = nw->max_readers; i < nr_slots(nw); i++)
		if (!nw->taken[i])
			break;
	if (i == nr_slots(nw))
		return -EUSERS;
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int theirs = segment_reopen(p->obj.fd, O_RDWR);
	if (theirs < 0)
		return theirs;
	if (fcntl(theirs, F_OFD_SETLK, &fl)) {
		int err = -errno;
		close(theirs);
		return err;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = i };
	if (epoll_ctl(nw->epoll, EPOLL_CTL_ADD, p->conn, &ev)) {
		int err = -errno;
		close(theirs);
		return err;
	}
	p->i = i;
	nw->taken[i] = true;
	nw->pend[nw->n_pend++] = *p;
	atomic_store(&nw->adopt, 1);
	/* Counted before its hello: the figures it may ask for include it
	 * (native_slots.c, store_live()). */
	atomic_fetch_add(&nw->h->live_slots, 1);

	struct native_msg m;
	fill_msg(nw, &m, NATIVE_MSG_HELLO);
	m.slot_index = i - nw->max_readers;
	int fds[4] = { nw->state_ro, nw->cur.ro[0], nw->cur.ro[1], theirs };
	int err = fdpass_send(p->conn, &m, sizeof(m), fds, 4);
	close(theirs); /* the reader holds the only other reference now */
	if (err) {
		nw->n_pend--;
		atomic_fetch_sub(&nw->h->live_slots, 1);
		nw->taken[i] = false;
		epoll_ctl(nw->epoll, EPOLL_CTL_DEL, p->conn, NULL);
		return err;
	}
	int dup = fcntl(p->conn, F_DUPFD_CLOEXEC, 3);
	if (dup >= 0) { /* else not watched: the bound is one hello looser */
		pthread_mutex_lock(&nw->hellos_mx);
		if (nw->n_hellos < HELLOS_UNREAD_MAX)
			nw->hellos[nw->n_hellos++] =
				(struct hello_sent){ dup, i, now_ns(CLOCK_MONOTONIC), p->pid };
		else
			close(dup);
		pthread_mutex_unlock(&nw->hellos_mx);
	}
	return 0;
}

/* A new reader: its own slot object, read-locked on a description made for
 * it alone, sent with read-only descriptions of the header and the copies.
 * Needs nw->lock only, never the writer's state: a handshake does not wait
 * for a write (native_service.c). The writer adopts the reader later.
 * Return: false when no connection was waiting. */
bool accept_reader(struct native_writer *nw)
{
	int conn = accept4(nw->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn < 0)
		return errno == EINTR || errno == ECONNABORTED;

	struct ucred cr = { .pid = 0 };
	socklen_t crlen = sizeof(cr);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) || !peer_allowed(nw, &cr)) {
		log_refusal(nw, &cr, "not in the allow-list");
		refuse(nw, conn, EACCES);
		return true;
	}

	/* The slot object before the lock: the lock's section stays short. */
	struct pending_reader p = { .conn = conn, .obj = { .fd = -1 }, .pid = cr.pid };
	int err = segment_create(&p.obj, nw->name, SEG_MEMFD, NULL, sysconf(_SC_PAGESIZE),
				 NATIVE_SEALS_SIZE);
	if (!err) {
		pthread_mutex_lock(&nw->lock);
		err = handshake_locked(nw, &p);
		pthread_mutex_unlock(&nw->lock);
	}
	if (err) {
		segment_destroy(&p.obj);
		if (err == -EUSERS) {
			log_refusal(nw, &cr, "all reader slots in use");
			refuse(nw, conn, EUSERS);
		} else if (err == -EINPROGRESS) {
			log_refusal(nw, &cr, "the hellos of " MMSYNC_STR(HELLOS_UNREAD_MAX)
			            " handshakes are still unread (try again)");
			refuse(nw, conn, EAGAIN);
		} else {
			/* The writer's own shortage (descriptors, memory): the
			 * reader is told to try again, not that no writer is
			 * there. */
			logf_(nw, "could not serve peer pid %d: %s", (int)cr.pid, strerror(-err));
			refuse(nw, conn, EAGAIN);
		}
	}
	return true;
}

/* Readers send nothing: data, an error or a hang-up ends the connection.
 * A dead reader's slot is taken back; a live reader is revoked. */
static void connection_event(struct native_writer *nw, unsigned i)
{
	struct wslot *ws = &nw->slots[i];
	char buf[64];

	if (i < nw->max_readers || i >= nr_slots(nw) || ws->kind != SLOT_OWN || ws->conn < 0)
		return;
	ssize_t n = recv(ws->conn, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	slot_drop(nw, i, n > 0 ? "sent data" : "hung up");
}

/* Accepts and serves connecting readers, adopts them, acts on events of
 * connections, refreshes the figures: the caller's dispatch, or the service
 * thread in a section (native_service.c, rule 1). */
void dispatch_body(struct native_writer *nw)
{
	struct epoll_event ev[32];

	adopt(nw); /* readers the thread served while a call was under way */
	for (;;) {
		int n = epoll_wait(nw->epoll, ev, 32, 0);
		if (n <= 0)
			break;
		for (int k = 0; k < n; k++) {
			if (ev[k].data.u32 == UINT32_MAX) {
				/* the listening socket stays readable while more wait */
				for (int a = 0; a < ACCEPTS_PER_DISPATCH && accept_reader(nw); a++)
					;
				adopt(nw);
			} else {
				connection_event(nw, ev[k].data.u32);
			}
		}
		if (n < 32)
			break;
	}
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	refusals_flush(nw, now);
	if (nw->hellos_ok && nw->listen_fd >= 0)
		hellos_check(nw, now);
	refresh_figures(nw);
}

int mmsync_writer_dispatch(struct mmsync_writer *w)
{
	struct native_writer *nw = nw_of(w);

	if (!nw)
		return -EINVAL;
	int err = writer_own(nw);
	if (err)
		return err;
	if (nw->serving)
		return -EBUSY; /* the service thread dispatches */
	dispatch_body(nw);
	return 0;
}

int mmsync_writer_fd(struct mmsync_writer *w)
{
	struct native_writer *nw = nw_of(w);
	if (!nw)
		return -EINVAL;
	int err = writer_own(nw);
	if (err)
		return err;
	return nw->serving ? -EBUSY : nw->epoll;
}

/* The socket systemd passed (LISTEN_PID, LISTEN_FDS): fd 3, a listening
 * Unix SOCK_SEQPACKET socket. Anything else is refused at once, saying
 * what the .socket unit must say: served, a stream socket would only give
 * readers "Protocol wrong type for socket". */
static int systemd_socket(struct native_writer *nw)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int type = 0, listening = 0;
	struct sockaddr_un sa;
	socklen_t len = sizeof(type), salen = sizeof(sa);

	if (!pid || !n || atol(pid) != (long)getpid() || atoi(n) < 1) {
		logf_(nw, "no socket from systemd (LISTEN_FDS and LISTEN_PID of this process)");
		return -ENOTSOCK;
	}
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET) {
		logf_(nw, "the socket systemd passed (fd 3) is not SOCK_SEQPACKET: the .socket unit "
			  "must use ListenSequentialPacket=, not ListenStream= or ListenDatagram=");
		return -ENOTSOCK;
	}
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || !listening ||
	    getsockname(3, (struct sockaddr *)&sa, &salen) || sa.sun_family != AF_UNIX) {
		logf_(nw, "the socket systemd passed (fd 3) is not a listening Unix socket "
			  "(ListenSequentialPacket=PATH or @NAME, Accept=no)");
		return -ENOTSOCK;
	}
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

/* A socket file left by a writer that died: a socket (never another kind
 * of file at that path), and nobody answers it. */
static bool socket_stale(const char *path, const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	if (lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return false;
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool stale = probe >= 0 && connect(probe, (const struct sockaddr *)sa, len) &&
		     errno == ECONNREFUSED;
	if (probe >= 0)
		close(probe);
	return stale;
}

static int bind_listen(struct native_writer *nw, const char *path, unsigned mode)
{
	struct sockaddr_un sa;
	socklen_t len;
	bool abstract = path[0] == '@';
	int err = fdpass_addr(path, &sa, &len);
	if (err)
		return err;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = bind(fd, (struct sockaddr *)&sa, len);
	if (r && errno == EADDRINUSE && !abstract && socket_stale(path, &sa, len)) {
		unlink(path);
		r = bind(fd, (struct sockaddr *)&sa, len);
	}
	/* Before listen(): nobody can connect while the mode is being set. */
	if (r || (!abstract && chmod(path, mode)) || listen(fd, 64)) {
		err = -errno;
		if (r == 0 && !abstract)
			unlink(path);
		close(fd);
		return err;
	}
	if (!abstract && !(nw->sock_path = strdup(path))) {
		unlink(path);
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

int mmsync_writer_listen(struct mmsync_writer *w, const char *path,
			 const struct mmsync_listen_opts *opts)
{
	struct native_writer *nw = nw_of(w);

	if (!nw)
		return -EINVAL;
	struct log l = { nw->log, nw->log_ctx, nw->name }; /* listen opts have no log: the writer's */
	if (opts_check(opts, sizeof(*opts), &l, "mmsync_writer_listen", "mmsync_listen_opts"))
		return -EINVAL;
	int err = writer_own(nw);
	if (err)
		return err;
	if (nw->listen_fd >= 0)
		return -EBUSY;
	size_t nu = OPTS_GET(opts, n_allow_uids, 0), ng = OPTS_GET(opts, n_allow_gids, 0);
	const uid_t *uids = OPTS_GET(opts, allow_uids, NULL);
	const gid_t *gids = OPTS_GET(opts, allow_gids, NULL);
	unsigned mode = OPTS_GET(opts, mode, 0);
	unsigned flags = OPTS_GET(opts, flags, 0);
	if (opts_flags_check(flags, MMSYNC_LISTEN_SERVE, &l, "mmsync_writer_listen",
			     "mmsync_listen_opts"))
		return -EINVAL;
	if ((nu && !uids) || (ng && !gids) || mode > 07777) {
		log_msg(&l, "mmsync_writer_listen(): opts: %s", mode > 07777 ? "mode past 07777"
			: "n_allow_uids or n_allow_gids without its list");
		return -EINVAL;
	}
	uid_t *u = nu ? malloc(nu * sizeof(*uids)) : NULL;
	gid_t *g = ng ? malloc(ng * sizeof(*gids)) : NULL;
	int fd = (nu && !u) || (ng && !g) ? -ENOMEM
		 : path ? bind_listen(nw, path, mode ? mode : 0660) : systemd_socket(nw);
	if (fd < 0) {
		free(u);
		free(g);
		return fd;
	}
	if (nu)
		memcpy(u, uids, nu * sizeof(*uids));
	if (ng)
		memcpy(g, gids, ng * sizeof(*gids));
	nw->allow_uids = u;
	nw->allow_gids = g;
	nw->n_uids = nu;
	nw->n_gids = ng;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* With the service thread the listening socket stays out of the epoll
	 * set: the thread polls it apart, so that handshakes never wait for
	 * a section (native_service.c). */
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	if (!(flags & MMSYNC_LISTEN_SERVE) && epoll_ctl(nw->epoll, EPOLL_CTL_ADD, fd, &ev))
		err = -errno;
	nw->listen_fd = fd;
	if (!err)
		listening_add(nw); /* before the first handshake (rule 5) */
	if (!err && (flags & MMSYNC_LISTEN_SERVE))
		err = service_start(nw);
	if (err) { /* as before the call: not listening */
		listening_remove(nw);
		close(fd);
		nw->listen_fd = -1;
		if (nw->sock_path)
			unlink(nw->sock_path);
		free(nw->sock_path);
		nw->sock_path = NULL;
		free(nw->allow_uids);
		free(nw->allow_gids);
		nw->allow_uids = NULL;
		nw->allow_gids = NULL;
		nw->n_uids = nw->n_gids = 0;
	}
	return err;
}
