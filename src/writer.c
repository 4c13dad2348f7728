/* SPDX-License-Identifier: MIT */
/*
 * The writer's public front: checks the arguments common to both layouts
 * and hands each call to the compat writer (compat_writer.c) or the native
 * one (native_writer.c). A handle's layout is fixed by the call that made
 * it: mmsync_writer_open() or mmsync_writer_create().
 */
#include <errno.h>
#include <stdlib.h>

#include "metrics.h"
#include "mmsync.h"
#include "native_writer.h"
#include "writer.h"

struct mmsync_writer *writer_alloc(void)
{
	struct mmsync_writer *w = calloc(1, sizeof(*w));
	if (w)
		w->state_fd = w->copy[0].fd = w->copy[1].fd = -1;
	return w;
}

void mmsync_writer_close(struct mmsync_writer *w)
{
	if (!w)
		return;
	if (w->native)
		native_writer_close(w->native);
	compat_writer_release(w);
	free(w);
}

static int check_write(struct mmsync_writer *w, size_t len)
{
	if (!w)
		return -EINVAL;
	if (len > MMSYNC_MAX_PAYLOAD)
		return -EMSGSIZE;
	return w->building ? -EBUSY : 0;
}

int mmsync_write(struct mmsync_writer *w, const void *data, size_t len,
		 uint64_t grace_ns, struct mmsync_write_info *info)
{
	int err = check_write(w, len);

	if (err || (!data && len))
		return err ? err : -EINVAL;
	return w->native ? native_write(w->native, data, len, grace_ns, info)
			 : compat_write(w, data, len, grace_ns, info);
}

int mmsync_write_from_fd(struct mmsync_writer *w, int fd, int64_t offset, size_t len,
			 uint64_t grace_ns, struct mmsync_write_info *info)
{
	int err = check_write(w, len);

	if (err || fd < 0 || offset < -1)
		return err ? err : -EINVAL;
	return w->native ? native_write_from_fd(w->native, fd, offset, len, grace_ns, info)
			 : compat_write_from_fd(w, fd, offset, len, grace_ns, info);
}

int mmsync_write_begin(struct mmsync_writer *w, size_t len, uint64_t grace_ns, void **ptr)
{
	int err = check_write(w, len);

	if (err || !ptr)
		return err ? err : -EINVAL;
	err = w->native ? native_write_begin(w->native, len, grace_ns, ptr)
			: compat_prepare(w, len, grace_ns, &w->build_copy, &w->build_reset);
	if (err)
		return err;
	if (!w->native)
		*ptr = w->copy[w->build_copy].map;
	w->building = true;
	w->build_len = len;
	return 0;
}

int mmsync_write_commit(struct mmsync_writer *w, size_t len, struct mmsync_write_info *info)
{
	if (!w || !w->building || len > w->build_len)
		return -EINVAL;
	int err = w->native ? native_write_commit(w->native, len, info)
			    : compat_publish(w, w->build_copy, len, w->build_reset, info);
	if (err != -ECHILD) /* refused in a forked child: nothing changed */
		w->building = false;
	return err;
}

int mmsync_write_abort(struct mmsync_writer *w)
{
	if (!w || !w->building)
		return -EINVAL;
	int err = w->native ? native_write_abort(w->native) : 0;
	if (!err)
		w->building = false;
	return err;
}

int mmsync_writer_stat(struct mmsync_writer *w, struct mmsync_stat *st)
{
	if (!w || !st || st->sz < offsetof(struct mmsync_stat, readers) + sizeof(st->readers))
		return -EINVAL;
	if (w->native)
		stat_from_header(w->native->h, st);
	else
		stat_from_compat(w->state, st);
	return 0;
}
