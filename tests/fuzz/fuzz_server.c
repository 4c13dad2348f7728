/* SPDX-License-Identifier: MIT */
/*
 * What a native writer reads from a client. One real writer (memfd header,
 * no BPF) listens on an abstract socket for the whole process; for each
 * input a client connects, sends the input as messages (with descriptors
 * attached or not), hangs up early or stays, and this thread calls
 * mmsync_writer_dispatch() until the connection is handled. After each
 * input the client is gone and the writer, once it has dispatched again
 * (a client it revoked while alive is taken back then), must hold no more
 * descriptors than before it; every 64 inputs an honest reader must still connect and
 * read the payload whole.
 *
 * Input:
 *   [0]  bit 0: the client hangs up before the writer first looks;
 *        bit 1: it shuts down its writing side after sending;
 *        bit 2: it receives the writer's hello (and closes what came with it)
 *               before it hangs up
 *   then messages, at most 16: [length] [descriptors: bits 0-2, see
 *        fd_attach] [length bytes]
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fdpass.h"
#include "fuzz_common.h"
#include "mmsync.h"

#define CHECK_EVERY 64
#define MAX_MSGS 16
#define DISPATCH_ROUNDS 1000

static const char payload[] = "mmsync fuzz_server: the payload an honest reader must see whole";
static struct mmsync_writer *w;
static char sock_name[64];
static int fds_baseline;
static unsigned long inputs;

static void log_quiet(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

/* Dispatches until the writer has nothing left to do (its descriptor polls
 * quiet), at most DISPATCH_ROUNDS times. Return: whether it got there. */
static bool dispatch_settle(void)
{
	struct pollfd p = { .fd = mmsync_writer_fd(w), .events = POLLIN };
	for (int i = 0; i < DISPATCH_ROUNDS; i++) {
		int err = mmsync_writer_dispatch(w);
		if (err)
			fuzz_fail("mmsync_writer_dispatch: %s", mmsync_strerror(err));
		if (poll(&p, 1, 0) == 0)
			return true;
	}
	return false;
}

/* ---- an honest reader, on a thread while this one dispatches ---- */

static atomic_int good_done;
static int good_err;

static void *good_reader(void *arg)
{
	(void)arg;
	struct mmsync_reader *r;
	struct mmsync_view v;
	MMSYNC_OPTS(mmsync_reader_opts, o, .timeout_ms = 10000);
	int err = mmsync_reader_connect(&r, sock_name, &o);
	if (!err) {
		err = mmsync_read_begin(r, &v);
		if (!err) {
			if (v.len != sizeof(payload) || memcmp(v.data, payload, sizeof(payload)))
				err = -EILSEQ;
			int e = mmsync_read_end(r, &v);
			err = err ? err : e;
		}
		mmsync_reader_close(r);
	}
	good_err = err;
	atomic_store(&good_done, 1);
	return NULL;
}

static void check_good_reader(void)
{
	pthread_t t;
	atomic_store(&good_done, 0);
	if (pthread_create(&t, NULL, good_reader, NULL))
		fuzz_fail("pthread_create");
	for (int i = 0; !atomic_load(&good_done); i++) {
		if (i > 20000)
			fuzz_fail("the honest reader got no answer in 20 s");
		mmsync_writer_dispatch(w);
		usleep(1000);
	}
	pthread_join(t, NULL);
	if (good_err)
		fuzz_fail("the writer no longer serves an honest reader: %s",
			  mmsync_strerror(good_err));
}

/* The client is gone: the writer must be back to what it held before. */
static void check_fds(const char *when)
{
	int n = -1;
	for (int i = 0; i < DISPATCH_ROUNDS; i++) {
		dispatch_settle();
		if ((n = count_fds()) == fds_baseline)
			return;
	}
	list_fds();
	fuzz_fail("%s: %d descriptors, %d before", when, n, fds_baseline);
}

static void setup(void)
{
	MMSYNC_OPTS(mmsync_native_opts, o, .flags = MMSYNC_BPF_OFF, .capacity = 64 << 10,
		    .max_readers = 4, .log = log_quiet);
	char name[32];
	snprintf(name, sizeof(name), "fuzzsrv%d", (int)getpid());
	int err = mmsync_writer_create(&w, name, &o);
	if (!err)
		err = mmsync_write(w, payload, sizeof(payload), 1000000000ull, NULL);
	snprintf(sock_name, sizeof(sock_name), "@mmsync-fuzz-srv-%d", (int)getpid());
	if (!err)
		err = mmsync_writer_listen(w, sock_name, NULL);
	if (err)
		fuzz_fail("writer: %s", mmsync_strerror(err));
	dispatch_settle();
	fds_baseline = count_fds();
	check_good_reader();
	check_fds("after the first honest reader");
}

/*
 * Descriptors to attach to a message, as @spec says: 0 none; 1 a pipe's
 * read end; 2 a memfd; 3 the client's own socket (a descriptor in flight
 * on itself); 4 /dev/null; 5 eight pipes; 6 a socket; 7 a pipe and a
 * memfd. Return: how many, in @fds.
 */
static unsigned fd_attach(uint8_t spec, int client, int fds[FDPASS_MAX_FDS])
{
	unsigned n = 0;
	int p[2];

	switch (spec & 7) {
	case 0:
		break;
	case 1:
	case 5:
		for (unsigned k = (spec & 7) == 5 ? FDPASS_MAX_FDS : 1; n < k;) {
			if (pipe2(p, O_CLOEXEC))
				fuzz_fail("pipe2: %s", strerror(errno));
			close(p[1]);
			fds[n++] = p[0];
		}
		break;
	case 2:
		fds[n++] = memfd_make("mmfz-srv", 4096, NULL, 0, 0);
		break;
	case 3:
		fds[n++] = fcntl(client, F_DUPFD_CLOEXEC, 3);
		break;
	case 4:
		fds[n++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	case 6:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p))
			fuzz_fail("socketpair: %s", strerror(errno));
		close(p[1]);
		fds[n++] = p[0];
		break;
	case 7:
		if (pipe2(p, O_CLOEXEC))
			fuzz_fail("pipe2: %s", strerror(errno));
		close(p[1]);
		fds[n++] = p[0];
		fds[n++] = memfd_make("mmfz-srv", 4096, NULL, 0, 0);
		break;
	}
	for (unsigned i = 0; i < n; i++)
		if (fds[i] < 0)
			fuzz_fail("descriptor to attach: %s", strerror(errno));
	return n;
}

/* What a client received: the hello and its descriptors, closed. */
static void client_drain(int client)
{
	uint8_t buf[512];
	int fds[FDPASS_MAX_FDS];
	unsigned n;
	while (fdpass_recv(client, buf, sizeof(buf), MSG_DONTWAIT, fds, FDPASS_MAX_FDS, &n) > 0)
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor in = { data, size };
	struct sockaddr_un sa;
	socklen_t salen;

	if (!w)
		setup();

	/* Counted for each input: libFuzzer's own symbolizer holds
	 * descriptors that come and go between inputs. */
	fds_baseline = count_fds();
	uint8_t ctl = take_u8(&in);
	int client = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (client < 0 || fdpass_addr(sock_name, &sa, &salen) ||
	    connect(client, (struct sockaddr *)&sa, salen))
		fuzz_fail("client connect: %s", strerror(errno));

	for (unsigned k = 0; k < MAX_MSGS && in.n; k++) {
		uint8_t msg[256];
		int fds[FDPASS_MAX_FDS];
		size_t len = take_u8(&in);
		unsigned n = fd_attach(take_u8(&in), client, fds);
		len = take_bytes(&in, msg, len);
		/* A full queue (EAGAIN) or a writer that hung up (EPIPE) ends
		 * nothing here: the writer's handling is what is looked at. */
		fdpass_send(client, msg, len, fds, n);
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
	}
	if (ctl & 2)
		shutdown(client, SHUT_WR);
	if (ctl & 1) {
		close(client);
		client = -1;
	}
	if (!dispatch_settle())
		fuzz_fail("the writer is still busy after %d dispatches", DISPATCH_ROUNDS);
	if (client >= 0) {
		if (ctl & 4)
			client_drain(client);
		close(client);
	}
	dispatch_settle();
	check_fds("after a client");
	if (++inputs % CHECK_EVERY == 0) {
		fds_baseline = count_fds();
		check_good_reader();
		check_fds("after an honest reader");
	}
	return 0;
}
