/* SPDX-License-Identifier: MIT */
/* What the extension's files share: the types, the exceptions, and the
 * conversion of the library's -errno to a Python exception. */
#ifndef MMSYNC_EXT_COMMON_H
#define MMSYNC_EXT_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include <mmsync.h>

/* mmsync.Error (an OSError: .errno, .strerror from mmsync_strerror()) and
 * mmsync.StaleError, its subclass for -ESTALE. */
extern PyObject *ext_error, *ext_stale_error;

/* Raises the exception for @err (negative errno); returns NULL. */
PyObject *ext_raise(int err);

/* Seconds (int, float or None for @none_ns) as nanoseconds; -1 with an
 * exception set on a negative or unconvertible value. */
int ext_seconds_ns(PyObject *o, uint64_t none_ns, uint64_t *ns);

/* mmsync.WriteInfo: a struct sequence (a named tuple), built at each write
 * (a dataclass took 1 us, twice the write). */
extern PyTypeObject *ext_write_info_type;
PyObject *ext_write_info(const struct mmsync_write_info *info);

/* A struct mmsync_stat as a dict (mmsync.Stat's fields). */
PyObject *ext_stat_dict(const struct mmsync_stat *st);

struct view;

/* A reader handle (reader.c). */
struct reader {
	PyObject_HEAD
	struct mmsync_reader *r;	/* NULL once closed */
	struct view *open;		/* the view being read, not a reference */
	/* A call that released the GIL (wait) is under way: the handle is
	 * that thread's until it returns. A close meanwhile is done by it. */
	bool busy, close_pending;
	bool native;
	/* A view dropped while another thread had the handle: that thread
	 * ends its read when it gets the handle back. */
	bool orphaned;
	struct mmsync_view orphan;
};

/* One read (view.c): the buffer of a version, from read_begin to read_end. */
struct view {
	PyObject_HEAD
	struct reader *reader;		/* a reference */
	struct mmsync_view v;
	Py_ssize_t exports;		/* buffers handed out and not released */
	struct mmsync_hold *hold;	/* while exports outlive the read */
	enum { VIEW_OPEN, VIEW_ENDED, VIEW_CLOSED } state; /* CLOSED: by Reader.close() */
	int closed_err;			/* what read_end said at that close */
};

/* A writer handle (writer.c). */
struct writer {
	PyObject_HEAD
	struct mmsync_writer *w;	/* NULL once closed */
	bool busy, close_pending;
	bool native;
	bool building;			/* a build() block is open */
	/* Buffers of builds aborted with their exports alive: they point
	 * into a copy, which must stay mapped (no write, no close) until
	 * they are released. */
	Py_ssize_t pinned;
};

/* A write_begin .. commit/abort (build.c): the buffer of the copy being built. */
struct build {
	PyObject_HEAD
	struct writer *writer;		/* a reference */
	void *ptr;
	size_t len;			/* the buffer's */
	size_t commit_len;		/* what the commit publishes (.length) */
	uint64_t grace_ns;
	Py_ssize_t exports;
	PyObject *memview;		/* a weak reference to what __enter__ gave */
	PyObject *info;			/* the commit's mmsync.WriteInfo */
	enum { BUILD_NEW, BUILD_OPEN, BUILD_DONE } state;
	bool pinned;			/* counted in writer->pinned */
};

extern PyTypeObject ext_reader_type, ext_view_type, ext_writer_type, ext_build_type;

/* view.c: ends @view's read, a hold taken first if it has buffers out.
 * Return: 0 with read_end's result in *@end_err, or -ENOMEM (no hold: the
 * read is still open). */
int view_end(struct view *view, int *end_err);
/* view.c: Reader.close() with @view open: ends it, and its __exit__ says
 * so. Return: 0, or -ENOMEM (the read is still open). */
int view_close(struct view *view);

/* writer.c: the writer's handle may be used by this thread now; else raises. */
bool writer_usable(struct writer *self);
/* writer.c: after a call that let the GIL go, or a build's end: does the
 * close that waited for it (or for the last pinned buffer). */
void writer_settle(struct writer *self);
/* writer.c: a pinned buffer was released. */
void writer_unpin(struct writer *self);

#endif
