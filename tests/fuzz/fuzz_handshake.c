/* SPDX-License-Identifier: MIT */
/*
 * What a reader receives from a writer: the handshake message and the
 * descriptors that come with it, through a real SOCK_SEQPACKET socket and
 * the reader's real receive and check path. This thread plays the writer
 * on an abstract socket made once per process; a second thread runs
 * mmsync_reader_connect() against it for each input (and, when it
 * succeeds, two reads, which take up a GENERATION message if the input
 * sends one). After each input: no crash, *r NULL on error, no descriptor
 * and no mapping of the memfds made here left behind.
 *
 * Input:
 *   [0]      bits 0-3: descriptors with the hello (mod 9); bits 4-5: how
 *            the writer answers (0, 1: with the message; 2: never, the
 *            reader times out; 3: it hangs up); bit 6: the reader verifies
 *            checksums; bit 7: the reader fences its reads
 *   [1..8]   a byte per descriptor (see fd_make)
 *   [9]      what the header in the state descriptor says (see header_make)
 *   [10..11] length of the hello message (LE, mod 300), then its bytes
 *   if bit 7 of [9], a GENERATION message: [ctl: bits 0-1 descriptors
 *            (mod 3)] [2 descriptor bytes] [length, 2 bytes LE, mod 300]
 *            [its bytes]
 */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fdpass.h"
#include "fuzz_common.h"
#include "mmsync.h"

#define TAG "mmfz-hs"		/* names the memfds made here */
#define MAX_MSG 300
#define PAGE 4096

static char sock_name[64];
static int listen_fd = -1;

/* ---- the reader's thread ---- */

static struct {
	sem_t go, sent, done;
	unsigned flags, timeout_ms;
} job;

static void reader_run(void)
{
	struct mmsync_reader *r = (struct mmsync_reader *)&job; /* must be overwritten */
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = job.flags, .timeout_ms = job.timeout_ms);
	int err = mmsync_reader_connect(&r, sock_name, &o);

	fuzz_note("mmsync_reader_connect: %d (%s)", err, mmsync_strerror(err));
	if (err) {
		while (sem_wait(&job.sent))
			;
		if (err > 0)
			fuzz_fail("mmsync_reader_connect returned %d, not a negative errno", err);
		if (r)
			fuzz_fail("mmsync_reader_connect failed (%s) but *r = %p", strerror(-err),
				  (void *)r);
		return;
	}
	if (!r)
		fuzz_fail("mmsync_reader_connect succeeded with *r NULL");
	/* Reads only once the writer has sent all it will: a writer queues
	 * a generation's copies before any version names it. */
	while (sem_wait(&job.sent))
		;
	/* Any error: a writer may refuse a generation with its own errno. */
	for (int i = 0; i < 2; i++)
		fuzz_read(r, NULL, NULL);
	mmsync_reader_close(r);
}

static void *reader_thread(void *arg)
{
	(void)arg;
	for (;;) {
		while (sem_wait(&job.go))
			;
		reader_run();
		sem_post(&job.done);
	}
	return NULL;
}

/* ---- the writer's side ---- */

static uint64_t clamp_size(uint64_t size)
{
	/* Sparse: a memfd of 2^39 bytes costs nothing until touched. Past
	 * that the message is refused before any descriptor is looked at. */
	return size > (1ull << 40) ? PAGE : size;
}

/*
 * The header the state descriptor holds: what the message says, unless
 * bits of @tweak say otherwise:
 *   0 wrong magic; 1 wrong header_size; 2 max_readers + 1; 3 an older
 *   generation; 4 a newer generation, of a larger capacity; 5 capacity +
 *   a page; 6 checksums on; 7 copy 0 of the generation @gen2 (what a
 *   GENERATION message brings).
 * Both copies hold a 16-byte payload; nothing is to be prefaulted.
 */
static void header_make(uint8_t page[PAGE], const struct native_msg *m, unsigned tweak,
			uint64_t gen2)
{
	struct native_header *h = (struct native_header *)page;

	memset(page, 0, PAGE);
	h->magic = tweak & 1 ? ~NATIVE_MAGIC : NATIVE_MAGIC;
	h->layout_version = NATIVE_LAYOUT_VERSION;
	h->header_size = sizeof(*h) + (tweak & 2 ? 8 : 0);
	h->max_readers = m->max_readers + (tweak & 4 ? 1 : 0);
	h->flags = tweak & 64 ? NATIVE_HDR_CHECKSUM : 0;
	uint64_t gen = m->generation, cap = m->capacity;
	if (tweak & 8)
		gen--;
	if (tweak & 16) {
		gen++;
		cap += PAGE;
	}
	if (tweak & 32)
		cap += PAGE;
	atomic_store(&h->generation, gen);
	atomic_store(&h->capacity, cap);
	memcpy(h->name, "fuzz", 5);
	for (int c = 0; c < 2; c++) {
		h->copy[c].version = 16u << 1 | (unsigned)c;
		h->copy[c].seq = 1;
		h->copy[c].generation = m->generation;
	}
	if (tweak & 128)
		h->copy[0].generation = gen2;
}

/*
 * A descriptor for position @pos of a message, as byte @spec says:
 *   bits 0-2: 0 the right kind for the position (the header at 0, a copy
 *             at 1 and 2, a slot object at 3, copies past that); 1 a
 *             header; 2 a copy; 3 a slot object; 4 a sealed copy of a wrong
 *             size (bits 4-6 say which); 5 an unsealed memfd of the right
 *             size; 6 a pipe; 7 /dev/null, or with bit 7 a socket
 *   bit 3:    read-write instead of read-only (read-only for a slot object)
 * @hello: the positions are those of a hello (else a GENERATION message:
 * copies only).
 */
static int fd_make(uint8_t spec, unsigned pos, bool hello, uint64_t capacity, const uint8_t *header)
{
	static const char *const names[] = { TAG "-state", TAG "-copy", TAG "-slot" };
	unsigned kind = spec & 7;
	bool flip = spec & 8;
	int fd;

	capacity = clamp_size(capacity);
	if (kind == 0)
		kind = !hello ? 2 : pos == 0 ? 1 : pos == 3 ? 3 : 2;
	if (kind == 5) {
		/* the position's own kind, without a seal */
		unsigned own = !hello ? 2 : pos == 0 ? 1 : pos == 3 ? 3 : 2;
		uint64_t size = own == 1 ? PAGE : own == 3 ? PAGE : capacity;
		fd = memfd_make(names[own - 1], size, own == 1 ? header : NULL, own == 1 ? PAGE : 0, 0);
		return own == 3 ? (flip ? fd_reopen_close(fd, O_RDONLY) : fd)
				: (flip ? fd : fd_reopen_close(fd, O_RDONLY));
	}
	switch (kind) {
	case 1:
		fd = memfd_make(names[0], PAGE, header, PAGE, NATIVE_SEALS_COPY);
		return flip ? fd : fd_reopen_close(fd, O_RDONLY);
	case 2:
		fd = memfd_make(names[1], capacity, NULL, 0, NATIVE_SEALS_COPY);
		return flip ? fd : fd_reopen_close(fd, O_RDONLY);
	case 3:
		fd = memfd_make(names[2], PAGE, NULL, 0, NATIVE_SEALS_SIZE);
		return flip ? fd_reopen_close(fd, O_RDONLY) : fd;
	case 4: {
		uint64_t sizes[8] = {
			capacity >= PAGE ? capacity - PAGE : 0, capacity + PAGE,
			capacity ? capacity - 1 : 1, capacity + 1, 0, PAGE, 2 * capacity,
			capacity / 2,
		};
		fd = memfd_make(names[1], clamp_size(sizes[(spec >> 4) & 7]), NULL, 0,
				NATIVE_SEALS_COPY);
		return flip ? fd : fd_reopen_close(fd, O_RDONLY);
	}
	case 6: {
		int p[2];
		if (pipe2(p, O_CLOEXEC))
			fuzz_fail("pipe2: %s", strerror(errno));
		close(p[1]);
		return p[0];
	}
	default:
		if (spec & 128) {
			int s[2];
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s))
				fuzz_fail("socketpair: %s", strerror(errno));
			close(s[1]);
			return s[0];
		}
		fd = open("/dev/null", (flip ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0)
			fuzz_fail("open /dev/null: %s", strerror(errno));
		return fd;
	}
}

/* Sends @len bytes with @nfds descriptors made from @specs, then closes
 * this side's copies: from here on, the reader holds the only ones. */
static void send_msg(int conn, const uint8_t *msg, size_t len, unsigned nfds, const uint8_t *specs,
		     bool hello, uint64_t capacity, const uint8_t *header)
{
	int fds[FDPASS_MAX_FDS];

	for (unsigned i = 0; i < nfds; i++)
		fds[i] = fd_make(specs[i], i, hello, capacity, header);
	/* A failure (the reader gone) is the reader's business: nothing to check here. */
	fdpass_send(conn, msg, len, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

static void setup(void)
{
	struct sockaddr_un sa;
	socklen_t len;

	snprintf(sock_name, sizeof(sock_name), "@mmsync-fuzz-hs-%d", (int)getpid());
	if (fdpass_addr(sock_name, &sa, &len))
		fuzz_fail("fdpass_addr");
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, len) || listen(listen_fd, 4))
		fuzz_fail("listen on %s: %s", sock_name, strerror(errno));
	sem_init(&job.go, 0, 0);
	sem_init(&job.sent, 0, 0);
	sem_init(&job.done, 0, 0);
	pthread_t t;
	if (pthread_create(&t, NULL, reader_thread, NULL))
		fuzz_fail("pthread_create");
	pthread_detach(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor in = { data, size };
	static uint8_t header[PAGE] __attribute__((aligned(PAGE)));
	uint8_t specs[FDPASS_MAX_FDS], specs2[2];
	uint8_t msg[MAX_MSG], msg2[MAX_MSG];
	struct native_msg m = { 0 }, m2 = { 0 };

	if (listen_fd < 0)
		setup();

	uint8_t ctl = take_u8(&in);
	unsigned nfds = (ctl & 15) % (FDPASS_MAX_FDS + 1), answer = (ctl >> 4) & 3;
	take_bytes(&in, specs, sizeof(specs));
	uint8_t tweak = take_u8(&in);
	size_t len = take_le(&in, 2) % MAX_MSG;
	len = take_bytes(&in, msg, len);
	memcpy(&m, msg, len < sizeof(m) ? len : sizeof(m));

	unsigned nfds2 = 0;
	size_t len2 = 0;
	if (tweak & 128) {
		nfds2 = take_u8(&in) % 3;
		take_bytes(&in, specs2, sizeof(specs2));
		len2 = take_le(&in, 2) % MAX_MSG;
		len2 = take_bytes(&in, msg2, len2);
		memcpy(&m2, msg2, len2 < sizeof(m2) ? len2 : sizeof(m2));
	}
	header_make(header, &m, tweak, m2.generation);

	int fds_before = count_fds();
	job.flags = (ctl & 64 ? MMSYNC_VERIFY_CHECKSUM : 0) | (ctl & 128 ? MMSYNC_FENCED : 0);
	job.timeout_ms = answer == 2 ? 1 : 10000;
	sem_post(&job.go);

	/* libFuzzer's timer (SIGALRM, once a second) interrupts the wait. */
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	int ready = 0;
	for (int tick = 0; tick < 100 && ready <= 0; tick++) {
		ready = poll(&p, 1, 100);
		if (ready < 0 && errno != EINTR)
			fuzz_fail("poll: %s", strerror(errno));
	}
	if (ready <= 0)
		fuzz_fail("the reader did not connect within 10 s");
	int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		fuzz_fail("accept4: %s", strerror(errno));
	if (answer == 3) {
		close(conn);
		conn = -1;
	} else if (answer < 2) {
		send_msg(conn, msg, len, nfds, specs, true, m.capacity, header);
		if (tweak & 128)
			send_msg(conn, msg2, len2, nfds2, specs2, false, m2.capacity, header);
	}
	sem_post(&job.sent);
	while (sem_wait(&job.done))
		;
	if (conn >= 0)
		close(conn);

	int fds_after = count_fds();
	if (fds_after != fds_before) {
		list_fds();
		fuzz_fail("descriptors: %d before, %d after", fds_before, fds_after);
	}
	int maps = count_maps(TAG);
	if (maps)
		fuzz_fail("%d mappings of the memfds sent are left", maps);
	return 0;
}
