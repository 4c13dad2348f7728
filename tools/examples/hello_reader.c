/* SPDX-License-Identifier: MIT */
/* Reads the HelloWorld record at /tmp/hello_world, or the PREFIX given, in
 * place (no copy).
 *     hello_reader [PREFIX] */
#include <stdio.h>

#include "hello_record.h"
#include "mmsync.h"

int main(int argc, char **argv)
{
	const char *prefix = argc > 1 ? argv[1] : "/tmp/hello_world";
	struct mmsync_reader *r;
	struct mmsync_view v;
	struct hello_string msgs[16];
	uint32_t version;

	int err = mmsync_reader_open(&r, prefix, NULL);
	if (!err)
		err = mmsync_read_begin(r, &v);
	if (err) {
		fprintf(stderr, "hello_reader: %s: %s\n", prefix, mmsync_strerror(err));
		mmsync_reader_close(r);
		return 1;
	}
	int n = hello_decode(v.data, v.len, &version, msgs, 16);
	if (n < 0) {
		fprintf(stderr, "hello_reader: record: %s\n", mmsync_strerror(n));
	} else {
		printf("version: %u messages: [", version);
		for (int i = 0; i < n; i++)
			printf("%s\"%.*s\"", i ? ", " : "", (int)msgs[i].len, msgs[i].text);
		printf("]\n");
	}
	err = mmsync_read_end(r, &v); /* the strings were printed while the view was held */
	mmsync_reader_close(r);
	if (!err && n < 0)
		err = n;
	if (err && n >= 0)
		fprintf(stderr, "hello_reader: %s: %s\n", prefix, mmsync_strerror(err));
	return err ? 1 : 0;
}
