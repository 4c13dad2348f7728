/* SPDX-License-Identifier: MIT */
/*
 * What a native reader made from descriptors trusts of the header page: a
 * sealed, read-only memfd filled from the input, handed to
 * mmsync_reader_from_fds() with sealed read-only copies and a slot table
 * whose sizes the input also picks. Then up to four reads, before each of
 * which the input may change words of the header (through this side's
 * mapping, made before F_SEAL_FUTURE_WRITE, as the writer's is). No crash,
 * no access outside the mappings, and every error a documented one.
 *
 * Input:
 *   [0]     bit 0: the reader verifies checksums; bit 1: it fences;
 *           bit 2: the magic and layout version are made right; bit 3: so
 *           is header_size; bit 4: max_readers is taken mod 4096, plus 1;
 *           bit 5: the copies are the header's capacity (when at most
 *           MAX_COPY), else the sizes below; bit 6: the table is exactly
 *           max_readers slots, else the size below
 *   [1..4]  size of copy 0, [5..8] of copy 1, [9..12] of the table (LE, mod MAX_COPY + 1)
 *   [13..]  the header's bytes (sizeof(struct native_header); zeros past
 *           the input's end)
 *   then, one per read, changes: [offset in the header, 2 bytes LE]
 *           [length, 1..8] [bytes]
 */
#include "fuzz_common.h"
#include "mmsync.h"

#define TAG "mmfz-nh"
#define PAGE 4096
#define MAX_COPY (4u << 20)
#define READS 4

/* mmsync_reader_from_fds(): what its comment lists, and -EOPNOTSUPP,
 * which it returns (checksums asked of a segment that has none) but does
 * not list. */
static const int from_fds_errors[] = {
	-EINVAL, -ENOMEM, -EUSERS, -EPROTO, -EBADMSG, -ESTALE, -EOPNOTSUPP, 0,
};
/* mmsync_read_begin() on a reader made from descriptors. */
static const int read_errors[] = { -ENODATA, -EBADMSG, -ESTALE, 0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor in = { data, size };
	struct native_header hb;

	/* Counted for each input: libFuzzer's own symbolizer holds
	 * descriptors that come and go between inputs. */
	int fds_baseline = count_fds();

	uint8_t ctl = take_u8(&in);
	uint64_t sizes[3];
	for (int i = 0; i < 3; i++)
		sizes[i] = take_le(&in, 4) % (MAX_COPY + 1);
	take_bytes(&in, &hb, sizeof(hb));

	/* The header, filled before it is sealed and kept mapped writable. */
	int hfd = memfd_make(TAG "-state", PAGE, NULL, 0, 0);
	struct native_header *h = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
	if (h == MAP_FAILED)
		fuzz_fail("mmap header: %s", strerror(errno));
	memcpy(h, &hb, sizeof(hb));
	if (ctl & 4) {
		h->magic = NATIVE_MAGIC;
		h->layout_version = NATIVE_LAYOUT_VERSION;
	}
	if (ctl & 8)
		h->header_size = sizeof(*h);
	if (ctl & 16)
		h->max_readers = h->max_readers % NATIVE_MAX_READERS + 1;
	if (fcntl(hfd, F_ADD_SEALS, NATIVE_SEALS_COPY))
		fuzz_fail("F_ADD_SEALS: %s", strerror(errno));

	uint64_t cap = atomic_load(&h->capacity);
	if ((ctl & 32) && cap <= MAX_COPY)
		sizes[0] = sizes[1] = cap;
	if ((ctl & 64) && h->max_readers <= NATIVE_MAX_READERS)
		sizes[2] = (uint64_t)h->max_readers * sizeof(struct native_slot);

	int fds[MMSYNC_NR_FDS];
	fds[MMSYNC_FD_STATE] = fd_reopen_close(hfd, O_RDONLY);
	for (int i = 0; i < 2; i++)
		fds[MMSYNC_FD_COPY0 + i] = fd_reopen_close(
			memfd_make(TAG "-copy", sizes[i], NULL, 0, NATIVE_SEALS_COPY), O_RDONLY);
	fds[MMSYNC_FD_SLOTS] = memfd_make(TAG "-slots", sizes[2], NULL, 0, NATIVE_SEALS_SIZE);

	struct mmsync_reader *r = (struct mmsync_reader *)&hb; /* must be overwritten */
	MMSYNC_OPTS(mmsync_reader_opts, o,
		    .flags = (ctl & 1 ? MMSYNC_VERIFY_CHECKSUM : 0) | (ctl & 2 ? MMSYNC_FENCED : 0));
	int err = mmsync_reader_from_fds(&r, fds, &o);
	fuzz_note("mmsync_reader_from_fds: %d (%s)", err, mmsync_strerror(err));
	for (int i = 0; i < MMSYNC_NR_FDS; i++)
		close(fds[i]);
	if (err) {
		if (!err_in(err, from_fds_errors))
			fuzz_fail("mmsync_reader_from_fds: undocumented error %d (%s)", err,
				  mmsync_strerror(err));
		if (r)
			fuzz_fail("mmsync_reader_from_fds failed but *r = %p", (void *)r);
	} else {
		for (int k = 0; k < READS; k++) {
			/* a change of the header, as a writer (or anyone holding
			 * a writable mapping) makes it while the reader reads */
			if (in.n) {
				size_t off = take_le(&in, 2) % sizeof(*h);
				size_t len = take_u8(&in) % 8 + 1;
				if (off + len > sizeof(*h))
					len = sizeof(*h) - off;
				take_bytes(&in, (uint8_t *)h + off, len);
			}
			static const int end_errors[] = { 0 }; /* none */
			fuzz_read(r, read_errors, end_errors);
		}
		mmsync_reader_close(r);
	}
	munmap(h, PAGE);

	int n = count_fds();
	if (n != fds_baseline) {
		list_fds();
		fuzz_fail("descriptors: %d before, %d after", fds_baseline, n);
	}
	int maps = count_maps(TAG);
	if (maps)
		fuzz_fail("%d mappings of the memfds given are left", maps);
	return 0;
}
