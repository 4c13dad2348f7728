/* SPDX-License-Identifier: MIT */
/* Publishes the HelloWorld record at /tmp/hello_world, or the PREFIX given
 * (see hello_record.h).
 *     hello_writer [PREFIX] */
#include <stdio.h>

#include "hello_record.h"
#include "mmsync.h"

int main(int argc, char **argv)
{
	const char *prefix = argc > 1 ? argv[1] : "/tmp/hello_world";
	static const char *const messages[] = { "Hello", "World", "!" };
	uint8_t record[256];
	struct mmsync_writer *w;
	struct mmsync_write_info info;

	long len = hello_encode(record, sizeof(record), 7, messages, 3);
	if (len < 0) {
		fprintf(stderr, "hello_writer: encode: %s\n", mmsync_strerror((int)len));
		return 1;
	}
	int err = mmsync_writer_open(&w, prefix, NULL);
	if (!err) {
		err = mmsync_write(w, record, (size_t)len, 1000000000ull /* 1 s grace */, &info);
		mmsync_writer_close(w);
	}
	if (err) {
		fprintf(stderr, "hello_writer: %s: %s\n", prefix, mmsync_strerror(err));
		return 1;
	}
	printf("written: %zu bytes | reset: %s\n", info.written, info.reset ? "true" : "false");
	return 0;
}
