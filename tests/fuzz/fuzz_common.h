/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: a cursor over the input, descriptor
 * and mapping counts, and sealed memfds made the way a writer makes them
 * (or not quite).
 *
 * A target reports a broken property with fuzz_fail(): it prints why and
 * aborts, which libFuzzer records as a crash with the input that did it.
 */
#ifndef MMSYNC_FUZZ_COMMON_H
#define MMSYNC_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmsync.h"
#include "native_layout.h"

__attribute__((format(printf, 1, 2), noreturn))
static void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* With MMSYNC_FUZZ_VERBOSE=1 in the environment, says what each step of an
 * input returned: to check by hand what a seed reaches. */
__attribute__((format(printf, 1, 2)))
static inline void fuzz_note(const char *fmt, ...)
{
	static int verbose = -1;
	if (verbose < 0) {
		const char *v = getenv("MMSYNC_FUZZ_VERBOSE");
		verbose = v && *v == '1';
	}
	if (!verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* ---- the input, read front to back; past its end every read is 0 ---- */

struct cursor {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t take_u8(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static inline uint64_t take_le(struct cursor *c, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)take_u8(c) << (8 * i);
	return v;
}

/* Up to @len bytes into @dst, the rest zero. Return: the bytes taken. */
static inline size_t take_bytes(struct cursor *c, void *dst, size_t len)
{
	size_t k = len < c->n ? len : c->n;
	memcpy(dst, c->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	c->p += k;
	c->n -= k;
	return k;
}

/* ---- what a process holds ---- */

/* Open descriptors (less the directory's own). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		fuzz_fail("opendir /proc/self/fd: %s", strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Lists the open descriptors and what they are, on stderr: said along
 * with a leak. */
static inline void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], to[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, to, sizeof(to) - 1);
		to[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, to);
	}
	closedir(d);
}

/* Mappings whose /proc/self/maps line contains @tag (a memfd's name). */
static inline int count_maps(const char *tag)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[1024];
	int n = 0;

	if (!f)
		fuzz_fail("fopen /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strstr(line, tag))
			n++;
	fclose(f);
	return n;
}

/* ---- memfds ---- */

/* A memfd named @name of @size bytes, starting with @len bytes of @data,
 * carrying @seals. Return: its read-write descriptor. */
static inline int memfd_make(const char *name, uint64_t size, const void *data, size_t len,
			     unsigned seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		fuzz_fail("memfd_create: %s", strerror(errno));
	if (len && pwrite(fd, data, len, 0) != (ssize_t)len)
		fuzz_fail("pwrite memfd: %s", strerror(errno));
	if (ftruncate(fd, (off_t)size))
		fuzz_fail("ftruncate memfd to %llu: %s", (unsigned long long)size, strerror(errno));
	if (seals && fcntl(fd, F_ADD_SEALS, seals))
		fuzz_fail("F_ADD_SEALS: %s", strerror(errno));
	return fd;
}

/* Another open file description of @fd's file, opened with @flags. */
static inline int fd_reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, flags | O_CLOEXEC);
	if (nfd < 0)
		fuzz_fail("reopen %s: %s", path, strerror(errno));
	return nfd;
}

/* @fd replaced by a description of the same file opened with @flags. */
static inline int fd_reopen_close(int fd, int flags)
{
	int nfd = fd_reopen(fd, flags);
	close(fd);
	return nfd;
}

/* Reads a byte of every page of a view, and its last byte: an access the
 * reader let through past its mappings faults (SEGV, or SIGBUS past the
 * end of a file), which libFuzzer reports as a crash. */
static inline uint8_t touch(const void *data, size_t len)
{
	const volatile uint8_t *p = data;
	uint8_t x = 0;
	for (size_t i = 0; i < len; i += 4096)
		x ^= p[i];
	if (len)
		x ^= p[len - 1];
	return x;
}

/* An error the documentation lists, from a list ended by 0. */
static inline bool err_in(int err, const int *set)
{
	for (; *set; set++)
		if (err == *set)
			return true;
	return false;
}

/* One read through @r, checked: an error of read_begin must be one of
 * @errors (NULL: any), the view as long as its version word says and
 * readable to its last byte, and read_end 0 or one of @end_errors (NULL:
 * anything). Return: what read_begin returned. */
static inline int fuzz_read(struct mmsync_reader *r, const int *errors, const int *end_errors)
{
	struct mmsync_view v;
	int err = mmsync_read_begin(r, &v);
	fuzz_note("mmsync_read_begin: %d (%s)", err, mmsync_strerror(err));
	if (err) {
		if (errors && !err_in(err, errors))
			fuzz_fail("mmsync_read_begin: undocumented error %d (%s)", err,
				  mmsync_strerror(err));
		return err;
	}
	if (v.len != mmsync_version_size(v.version))
		fuzz_fail("view of %zu bytes, version says %llu", v.len,
			  (unsigned long long)mmsync_version_size(v.version));
	touch(v.data, v.len);
	int end = mmsync_read_end(r, &v);
	if (end && end_errors && !err_in(end, end_errors))
		fuzz_fail("mmsync_read_end: %d (%s)", end, mmsync_strerror(end));
	return 0;
}

#endif
