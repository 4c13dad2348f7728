/* SPDX-License-Identifier: MIT */
#include "bpf_state.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fds.h"
#include "mmsync_metrics.skel.h"
#include "native_layout.h"

struct bpf_state {
	struct mmsync_metrics_bpf *skel;
	struct bpf_link *link;
	void *map;
	char dir[PATH_MAX];
	int dir_fd;		/* the pin directory, flock()ed while this writer lives */
	bool pinned, keep;
};

/* bpffs at /sys/fs/bpf, mounted if it is not (as the writer may run first). */
static int bpffs_ready(void)
{
	struct statfs sfs;
	if (statfs("/sys/fs/bpf", &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0755"))
		return -errno;
	return 0;
}

/* The two pins in @dir (a short path: the root and a name of < 64 bytes). */
static void pin_paths(const char *dir, char *state, char *metrics)
{
	if (snprintf(state, PATH_MAX, "%s/state", dir) >= PATH_MAX ||
	    snprintf(metrics, PATH_MAX, "%s/metrics", dir) >= PATH_MAX)
		abort();
}

static void unpin_files(const char *dir)
{
	char state[PATH_MAX], metrics[PATH_MAX];
	pin_paths(dir, state, metrics);
	unlink(metrics);
	unlink(state);
}

/* Reads the header pinned as @path. A read-only descriptor of a BPF map
 * cannot be mapped (mmap clears VM_SHARED for it and the map refuses the
 * mapping), so this is a lookup. Return: 0 or -errno. */
static int read_pinned(const char *path, struct native_header *out)
{
	LIBBPF_OPTS(bpf_obj_get_opts, o, .file_flags = BPF_F_RDONLY);
	__u32 zero = 0;
	int fd = bpf_obj_get_opts(path, &o);
	if (fd < 0)
		return -errno;
	int err = bpf_map_lookup_elem(fd, &zero, out) ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Takes the pin directory of @name: the writer that owns it holds an
 * exclusive flock() on it for as long as it lives, which the kernel drops
 * however it dies. A pid would not do: the one in the header is the
 * writer's in its own pid namespace, where another process may have it
 * (or none), as seen from here. Pins found in a directory nobody holds are
 * a dead writer's (or one that kept them): replaced.
 * Return: 0, -EEXIST (a live writer of that name holds it), or -errno.
 */
static int pin_dir_take(struct bpf_state *bs, const char *name)
{
	snprintf(bs->dir, sizeof(bs->dir), BPF_PIN_ROOT "/%s", name);
	for (int tries = 0; tries < 8; tries++) {
		if (mkdir(bs->dir, 0755) && errno != EEXIST)
			return -errno;
		int fd = fd_above_stdio(open(bs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (fd == -ENOENT)
			continue; /* removed by its last owner meanwhile */
		if (fd < 0)
			return fd;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			int err = errno == EWOULDBLOCK ? -EEXIST : -errno;
			close(fd);
			return err;
		}
		/* Still the directory at that path (its owner may have removed
		 * it between our open and its unlock)? */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(bs->dir, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			bs->dir_fd = fd;
			return 0;
		}
		close(fd);
	}
	return -EAGAIN;
}

static int pin(struct bpf_state *bs, const char *name)
{
	char state[PATH_MAX], metrics[PATH_MAX];

	if (mkdir(BPF_PIN_ROOT, 0755) && errno != EEXIST)
		return -errno;
	int err = pin_dir_take(bs, name);
	if (err)
		return err;
	unpin_files(bs->dir); /* a dead writer's, if any */
	bs->pinned = true;
	pin_paths(bs->dir, state, metrics);
	err = bpf_map__pin(bs->skel->maps.state, state);
	if (!err)
		err = bpf_link__pin(bs->link, metrics);
	return err;
}

int bpf_state_create(struct bpf_state **out, const char *name, bool keep_pins, void **map)
{
	struct bpf_state *bs = calloc(1, sizeof(*bs));
	int err;

	*out = NULL;
	if (!bs)
		return -ENOMEM;
	bs->keep = keep_pins;
	bs->map = MAP_FAILED;
	bs->dir_fd = -1;
	libbpf_set_print(NULL); /* errors come back as return values */
	if ((err = bpffs_ready()))
		goto fail;
	bs->skel = mmsync_metrics_bpf__open_and_load();
	if (!bs->skel) {
		err = -errno ? -errno : -EPERM;
		goto fail;
	}
	int fd = bpf_map__fd(bs->skel->maps.state);
	bs->map = mmap(NULL, NATIVE_STATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bs->map == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		goto fail;
	}
	bs->skel->bss->state_id = info.id; /* the map the iterator prints */
	bs->link = bpf_program__attach_iter(bs->skel->progs.metrics, NULL);
	if (!bs->link) {
		err = -errno;
		goto fail;
	}
	if ((err = pin(bs, name)))
		goto fail;
	*map = bs->map;
	*out = bs;
	return 0;
fail:
	bs->keep = false;
	bpf_state_destroy(bs);
	return err;
}

void bpf_state_destroy(struct bpf_state *bs)
{
	if (!bs)
		return;
	/* Removed while still held: a writer starting meanwhile cannot take
	 * the name between the unlink and the rmdir. */
	if (bs->pinned && !bs->keep) {
		unpin_files(bs->dir);
		rmdir(bs->dir);
	}
	if (bs->dir_fd >= 0)
		close(bs->dir_fd); /* drops the flock */
	if (bs->map != MAP_FAILED)
		munmap(bs->map, NATIVE_STATE_SIZE);
	bpf_link__destroy(bs->link); /* a kept pin keeps the link alive */
	mmsync_metrics_bpf__destroy(bs->skel);
	free(bs);
}

void bpf_state_release(struct bpf_state *bs)
{
	if (!bs)
		return;
	bs->keep = true;
	bpf_state_destroy(bs);
}

int bpf_state_read(const char *name, struct native_header *out)
{
	char path[PATH_MAX];
	if (native_name_valid(name))
		return -EINVAL;
	snprintf(path, sizeof(path), BPF_PIN_ROOT "/%s/state", name);
	int err = read_pinned(path, out);
	if (!err && (out->magic != NATIVE_MAGIC || out->header_size != sizeof(*out)))
		err = -EBADMSG;
	return err;
}
