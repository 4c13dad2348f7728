/* SPDX-License-Identifier: MIT */
/* mmsync serve: publishes FILE in a native writer's copies, serves them on a
 * Unix socket, and publishes again each time FILE is rewritten or replaced. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmsync.h"
#include "cli.h"

/* Fills the copy in chunks with pread(2), so that a terminal sees how far
 * the publish got; then publishes it. */
static int publish_chunked(struct mmsync_writer *w, int fd, size_t len, uint64_t grace_ns,
			   struct mmsync_write_info *info, struct progress *pg)
{
	void *ptr;
	int err = mmsync_write_begin(w, len, grace_ns, &ptr);
	if (err)
		return err;
	for (size_t done = 0; done < len;) {
		size_t want = len - done < PROGRESS_CHUNK ? len - done : PROGRESS_CHUNK;
		ssize_t n = pread(fd, (char *)ptr + done, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -ENODATA; /* -ENODATA: it shrank */
			mmsync_write_abort(w);
			return err;
		}
		done += (size_t)n;
		progress_update(pg, done);
	}
	return mmsync_write_commit(w, len, info);
}

/* Publishes FILE straight from its descriptor (io_uring reads into the
 * copy; on a terminal, for a large file, chunks that show the progress); a
 * file that changes size while being read is read again. */
static int publish_file(struct mmsync_writer *w, const char *path, uint64_t grace_ns)
{
	struct mmsync_write_info info;
	struct stat st;
	int err = 0;
	/* Not blocking in open(): FILE may have been replaced by a FIFO. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return fail_sys(path, -errno);
	fcntl(fd, F_SETFL, 0);
	for (int tries = 0; tries < 3; tries++) {
		if (fstat(fd, &st))
			err = -errno;
		else if (!S_ISREG(st.st_mode)) {
			close(fd);
			fprintf(stderr, "mmsync: %s: not a regular file\n", path);
			return 1;
		}
		else {
			struct progress pg;
			progress_begin(&pg, "publishing", (uint64_t)st.st_size);
			err = pg.on ? publish_chunked(w, fd, (size_t)st.st_size, grace_ns, &info, &pg)
				    : mmsync_write_from_fd(w, fd, 0, (size_t)st.st_size, grace_ns, &info);
			progress_end(&pg);
		}
		if (err != -ENODATA) /* -ENODATA: it shrank while we read it */
			break;
	}
	close(fd);
	if (err)
		return fail(path, err);
	printf("published seq=%" PRIu64 " bytes=%zu\n", info.seq, info.written);
	fflush(stdout);
	return 0;
}

/* True for events about FILE in its directory: rewritten (closed after
 * writing) or replaced (moved over, created). */
static bool file_event(int ino, const char *base)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && !strcmp(ev->name, base))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

/* The socket systemd passed, checked before the first publish: a unit
 * with ListenStream= would otherwise fail only after it, or hand readers
 * "Protocol wrong type for socket". Return: 0 or an exit status. */
static int check_systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int type = 0;
	socklen_t len = sizeof(type);

	if (!pid || !n || atol(pid) != (long)getpid() || atoi(n) < 1) {
		fprintf(stderr, "mmsync: serve: no --socket PATH, and no socket from systemd "
				"(LISTEN_FDS, LISTEN_PID): give one or the other\n");
		return 2;
	}
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len))
		return fail_sys("serve: the socket systemd passed (LISTEN_FDS, fd 3)", -errno);
	if (type != SOCK_SEQPACKET) {
		fprintf(stderr, "mmsync: serve: the socket systemd passed (LISTEN_FDS, fd 3) is %s, "
				"not SOCK_SEQPACKET: its .socket unit must say ListenSequentialPacket=PATH "
				"(not ListenStream= or ListenDatagram=)\n",
			type == SOCK_STREAM ? "SOCK_STREAM" : type == SOCK_DGRAM ? "SOCK_DGRAM"
							   : "of another type");
		return 1;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "allow-gid", required_argument, NULL, 'g' },
		{ "grace-ms", required_argument, NULL, 'G' },
		{ "mode", required_argument, NULL, 'm' },
		{ 0 },
	};
	MMSYNC_OPTS(mmsync_native_opts, nopts);
	MMSYNC_OPTS(mmsync_listen_opts, lopts);
	uid_t uids[64];
	gid_t gids[64];
	const char *sock = NULL, *name = NULL;
	uint64_t v, grace_ms = 1000;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'n': name = optarg; break;
		case 'H': nopts.flags |= MMSYNC_HUGETLB; break;
		case 'c':
			if (parse_u64(optarg, &nopts.capacity) || !nopts.capacity)
				return usage("--capacity takes a number of bytes");
			if (nopts.capacity > MMSYNC_MAX_PAYLOAD + 1)
				return usage("--capacity is at most 2^39 bytes (the largest payload)");
			break;
		case 'u':
		case 'g':
			if (parse_u64(optarg, &v) || v > UINT32_MAX || lopts.n_allow_uids >= 64 ||
			    lopts.n_allow_gids >= 64)
				return usage("--allow-uid and --allow-gid take numeric ids (64 at most)");
			if (c == 'u')
				uids[lopts.n_allow_uids++] = (uid_t)v;
			else
				gids[lopts.n_allow_gids++] = (gid_t)v;
			break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long m = strtoul(optarg, &end, 8);
			if (errno || *end || !optarg[0] || optarg[0] == '-' || !m || m > 07777)
				return usage("--mode takes an octal file mode (0660, 0666, ...)");
			lopts.mode = (unsigned)m;
			break;
		}
		case 'G':
			if (parse_u64(optarg, &grace_ms) || grace_ms > UINT64_MAX / 1000000)
				return usage("--grace-ms takes a number of milliseconds");
			break;
		default:
			return usage(NULL);
		}
	}
	if (argc - optind != 1)
		return usage("serve takes FILE, and --socket PATH or a socket from systemd");
	const char *file = argv[optind];
	lopts.allow_uids = uids;
	lopts.allow_gids = gids;
	/* The allow-list is the writer's check (SO_PEERCRED, at each connect);
	 * the file's mode only decides who reaches it. Users listed must reach
	 * it, or the list is of no use: 0666 unless --mode says otherwise. */
	if (!lopts.mode && (lopts.n_allow_uids || lopts.n_allow_gids))
		lopts.mode = 0666;
	int rc = sock ? 0 : check_systemd_socket();
	if (rc)
		return rc;

	/* NAME defaults to FILE's base name, kept to the characters a name may have. */
	char namebuf[64];
	if (!name) {
		const char *b = strrchr(file, '/');
		snprintf(namebuf, sizeof(namebuf), "%s", b ? b + 1 : file);
		for (char *p = namebuf; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
				*p = '_';
		name = namebuf;
	}

	char dir[4096];
	const char *slash = strrchr(file, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - file) + (slash == file) : 1,
		 slash ? file : ".");
	const char *base = slash ? slash + 1 : file;
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino < 0 || inotify_add_watch(ino, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
		return fail_sys(dir, -errno);

	struct mmsync_writer *w;
	int err = mmsync_writer_create(&w, name, &nopts);
	if (err)
		return fail(name, err);
	catch_signals();
	rc = publish_file(w, file, grace_ms * 1000000);
	if (!rc && (err = mmsync_writer_listen(w, sock, &lopts)))
		rc = sock ? fail_path(sock, err, strerror(-err))
			  : fail("the socket systemd passed (LISTEN_FDS)", err);
	while (!rc && !stop) {
		struct pollfd p[2] = { { mmsync_writer_fd(w), POLLIN, 0 }, { ino, POLLIN, 0 } };
		if (poll(p, 2, 100) < 0 && errno != EINTR) {
			rc = fail_sys("poll", -errno);
			break;
		}
		mmsync_writer_dispatch(w);
		if ((p[1].revents & POLLIN) && file_event(ino, base) && access(file, R_OK) == 0)
			publish_file(w, file, grace_ms * 1000000); /* a failed publish keeps the last */
	}
	mmsync_writer_close(w); /* removes the socket file */
	close(ino);
	return rc;
}
