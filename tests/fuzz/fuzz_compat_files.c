/* SPDX-License-Identifier: MIT */
/*
 * What a compat reader reads from the file system: PREFIX_state (16 bytes,
 * or any size) and PREFIX_data_0/1 (any bytes, any size), written from the
 * input under a directory of /dev/shm made once per process. Then a reader
 * without and one with MMSYNC_VERIFY_CHECKSUM each read twice. No crash, no
 * SIGBUS, and every error one that mmsync_read_begin() documents for these
 * files: -ENOENT, -ENODATA, -EBADMSG.
 *
 * Input:
 *   [0]  bit 0: no state file; bits 1, 2: no data_0, no data_1;
 *        bit 3: the state file's size is the next byte (else 16)
 *   [1]  (bit 3) the state file's size
 *   the state file's bytes (zeros past the input's end)
 *   for data_0 then data_1: [size, 3 bytes LE, mod 1 MiB]
 *        [content length, 2 bytes LE] [content]: the content written at 0,
 *        then the file cut or extended (a hole) to its size
 */
#include <sys/stat.h>

#include "compat_layout.h"
#include "fuzz_common.h"
#include "mmsync.h"

static char dir[64], prefix[128];

static void cleanup(void)
{
	char path[PATH_MAX];
	for (int f = COMPAT_STATE; f <= COMPAT_DATA1; f++)
		if (!compat_path(path, prefix, (enum compat_file)f))
			unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/dev/shm/mmsync-fuzz-XXXXXX");
	if (!mkdtemp(dir))
		fuzz_fail("mkdtemp: %s", strerror(errno));
	snprintf(prefix, sizeof(prefix), "%s/seg", dir);
	atexit(cleanup);
}

/* PREFIX's file @f, with @len bytes of @data then cut or extended to @size;
 * or, when @absent, no such file. */
static void file_put(enum compat_file f, bool absent, const void *data, size_t len, off_t size)
{
	char path[PATH_MAX];
	if (compat_path(path, prefix, f))
		fuzz_fail("compat_path");
	unlink(path);
	if (absent)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fuzz_fail("open %s: %s", path, strerror(errno));
	if (len && write(fd, data, len) != (ssize_t)len)
		fuzz_fail("write %s: %s", path, strerror(errno));
	if (ftruncate(fd, size))
		fuzz_fail("ftruncate %s: %s", path, strerror(errno));
	close(fd);
}

static const int read_errors[] = { -ENOENT, -ENODATA, -EBADMSG, 0 };

static void read_all(unsigned flags)
{
	struct mmsync_reader *r;
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = flags);
	int err = mmsync_reader_open(&r, prefix, &o);
	if (err)
		fuzz_fail("mmsync_reader_open: %s", mmsync_strerror(err));
	/* read_end: -ESTALE when a reader count wrapped to 0 (reads as reset) */
	static const int end_errors[] = { -ESTALE, 0 };
	fuzz_note("flags %u", flags);
	for (int i = 0; i < 2; i++)
		fuzz_read(r, read_errors, end_errors);
	mmsync_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor in = { data, size };
	static uint8_t buf[1 << 16];

	if (!dir[0])
		setup();

	uint8_t ctl = take_u8(&in);
	size_t state_size = ctl & 8 ? take_u8(&in) : sizeof(struct compat_state);
	take_bytes(&in, buf, state_size);
	file_put(COMPAT_STATE, ctl & 1, buf, state_size, (off_t)state_size);
	for (int f = COMPAT_DATA0; f <= COMPAT_DATA1; f++) {
		off_t fsize = (off_t)(take_le(&in, 3) % (1u << 20));
		size_t len = take_bytes(&in, buf, take_le(&in, 2));
		file_put((enum compat_file)f, ctl & (2 << f), buf, len, fsize);
	}
	read_all(0);
	read_all(MMSYNC_VERIFY_CHECKSUM);
	return 0;
}
