/* SPDX-License-Identifier: MIT */
/*
 * Publishes the HelloWorld record (hello_record.h) in a native segment and
 * serves it on a Unix socket until SIGINT or SIGTERM:
 *
 *     hello_native_writer [SOCKET [NAME]]    (/tmp/hello_world.sock, hello_world)
 *
 * The library's service thread serves the readers (MMSYNC_LISTEN_SERVE):
 * it hands each connecting reader its descriptors and takes back the slots
 * of those that left. The program has no event loop; its main thread only
 * publishes, then waits for the signal.
 */
#include <signal.h>
#include <stdio.h>

#include "hello_record.h"
#include "mmsync.h"

int main(int argc, char **argv)
{
	static const char *const messages[] = { "Hello", "World", "!" };
	const char *sock = argc > 1 ? argv[1] : "/tmp/hello_world.sock";
	const char *name = argc > 2 ? argv[2] : "hello_world";
	uint8_t record[256];
	struct mmsync_writer *w;
	struct mmsync_write_info info;
	sigset_t stop;
	int sig, err;

	/* Blocked before the service thread starts, for sigwait() below (the
	 * thread blocks every signal itself). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	long len = hello_encode(record, sizeof(record), 7, messages, 3);
	if (len < 0) {
		fprintf(stderr, "hello_native_writer: encode: %s\n", mmsync_strerror((int)len));
		return 1;
	}
	MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 4096);
	MMSYNC_OPTS(mmsync_listen_opts, lo, .flags = MMSYNC_LISTEN_SERVE);
	if ((err = mmsync_writer_create(&w, name, &o))) {
		fprintf(stderr, "hello_native_writer: %s: %s\n", name, mmsync_strerror(err));
		return 1;
	}
	if ((err = mmsync_writer_listen(w, sock, &lo)) ||
	    (err = mmsync_write(w, record, (size_t)len, 100000000ull /* 100 ms grace */, &info))) {
		fprintf(stderr, "hello_native_writer: %s: %s\n", sock, mmsync_strerror(err));
		mmsync_writer_close(w);
		return 1;
	}
	printf("serving %zu bytes (seq %llu) on %s\n", info.written, (unsigned long long)info.seq,
	       sock);
	fflush(stdout);

	sigwait(&stop, &sig);
	mmsync_writer_close(w); /* stops the thread; removes the socket file */
	return 0;
}
