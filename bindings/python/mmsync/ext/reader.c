/* SPDX-License-Identifier: MIT */
/*
 * mmsync._ext.Reader: a reader handle of either layout, and its calls.
 *
 * The library's rule, one thread at a time on a handle, is kept by the GIL
 * for the calls that hold it. wait() lets it go: while it sleeps the handle
 * is its thread's (busy), other calls on it raise, and a close() from
 * another thread is left for the waiting thread to do when it wakes.
 */
#include <time.h>

#include "common.h"

static bool usable(struct reader *self)
{
	if (!self->r) {
		PyErr_SetString(PyExc_ValueError, "the reader is closed");
		return false;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the reader is in use by another thread (wait()): give each thread a Reader of its own");
		return false;
	}
	return true;
}

/* Return: 0, or -ENOMEM when an open view's buffers could not be kept
 * mapped (the handle stays open). */
static int reader_do_close(struct reader *self)
{
	if (self->open) {
		int err = view_close(self->open);
		if (err)
			return err;
	}
	mmsync_reader_close(self->r); /* ends an orphan's read too */
	self->r = NULL;
	self->orphaned = false;
	return 0;
}

/* After a call that let the GIL go: what other threads left for this one. */
static int reader_catch_up(struct reader *self)
{
	self->busy = false;
	if (self->orphaned) {
		self->orphaned = false;
		mmsync_read_end(self->r, &self->orphan);
	}
	if (self->close_pending) {
		self->close_pending = false;
		return reader_do_close(self);
	}
	return 0;
}

static int reader_init(struct reader *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "target", "native", "flags", "timeout_ms", "trust_uid", NULL };
	const char *target;
	int native = 0;
	unsigned flags = 0, timeout_ms = 0;
	unsigned int trust_uid = 0;

	if (self->r) {
		PyErr_SetString(PyExc_RuntimeError, "the reader is already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|pIII", kwlist, &target, &native, &flags,
					 &timeout_ms, &trust_uid))
		return -1;
	MMSYNC_OPTS(mmsync_reader_opts, o, .flags = flags, .timeout_ms = timeout_ms,
		    .trust_uid = (uid_t)trust_uid);
	struct mmsync_reader *r;
	int err;
	if (native) {
		/* A connect waits for the writer's handshake, up to timeout_ms. */
		Py_BEGIN_ALLOW_THREADS
		err = mmsync_reader_connect(&r, target, &o);
		Py_END_ALLOW_THREADS
	} else {
		err = mmsync_reader_open(&r, target, &o);
	}
	if (err) {
		ext_raise(err);
		return -1;
	}
	self->r = r;
	self->native = native;
	return 0;
}

static void reader_dealloc(struct reader *self)
{
	/* An open view holds a reference: none is open here. */
	mmsync_reader_close(self->r);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *reader_read(struct reader *self, PyObject *unused)
{
	(void)unused;
	if (!usable(self))
		return NULL;
	struct view *view = PyObject_New(struct view, &ext_view_type);
	if (!view)
		return NULL;
	view->exports = 0;
	view->hold = NULL;
	view->closed_err = 0;
	view->state = VIEW_ENDED; /* until begun */
	Py_INCREF(self);
	view->reader = self;
	int err = mmsync_read_begin(self->r, &view->v);
	if (err) {
		Py_DECREF(view);
		return ext_raise(err);
	}
	view->state = VIEW_OPEN;
	self->open = view;
	return (PyObject *)view;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps in pieces so that a signal handler (KeyboardInterrupt) runs
 * within 0.1 s: the library's wait never returns -EINTR. A publish ends a
 * piece at once, so the pieces cost nothing in latency. */
#define WAIT_PIECE_NS 100000000ull

static PyObject *reader_wait(struct reader *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &timeout) ||
	    ext_seconds_ns(timeout, UINT64_MAX, &ns) || !usable(self))
		return NULL;
	uint64_t deadline = ns == UINT64_MAX ? UINT64_MAX : mono_ns() + ns;
	int err;
	for (;;) {
		uint64_t now = mono_ns(), left = deadline > now ? deadline - now : 0;
		uint64_t piece = left < WAIT_PIECE_NS ? left : WAIT_PIECE_NS;
		struct mmsync_reader *r = self->r;
		self->busy = true;
		Py_BEGIN_ALLOW_THREADS
		err = mmsync_wait(r, piece);
		Py_END_ALLOW_THREADS
		if (reader_catch_up(self))
			return PyErr_NoMemory();
		if (err != -ETIMEDOUT || piece == left)
			break;
		if (PyErr_CheckSignals())
			return NULL;
		if (!self->r)
			return PyErr_Format(PyExc_ValueError, "the reader was closed during the wait");
	}
	if (err == -ETIMEDOUT)
		Py_RETURN_FALSE;
	if (err)
		return ext_raise(err);
	Py_RETURN_TRUE;
}

static PyObject *reader_fileno(struct reader *self, PyObject *unused)
{
	(void)unused;
	if (!usable(self))
		return NULL;
	int fd = mmsync_reader_fd(self->r);
	return fd < 0 ? ext_raise(fd) : PyLong_FromLong(fd);
}

static PyObject *reader_check(struct reader *self, PyObject *unused)
{
	(void)unused;
	if (!usable(self))
		return NULL;
	int err = mmsync_reader_check(self->r);
	if (err)
		return ext_raise(err);
	Py_RETURN_NONE;
}

static PyObject *reader_version(struct reader *self, PyObject *unused)
{
	(void)unused;
	uint64_t v;
	if (!usable(self))
		return NULL;
	int err = mmsync_version(self->r, &v);
	return err ? ext_raise(err) : PyLong_FromUnsignedLongLong(v);
}

static PyObject *reader_stat(struct reader *self, PyObject *unused)
{
	(void)unused;
	struct mmsync_stat st = { .sz = sizeof(st) };
	if (!usable(self))
		return NULL;
	int err = mmsync_reader_stat(self->r, &st);
	return err ? ext_raise(err) : ext_stat_dict(&st);
}

static PyObject *reader_close(struct reader *self, PyObject *unused)
{
	(void)unused;
	if (self->busy)
		self->close_pending = true;
	else if (self->r && reader_do_close(self))
		return PyErr_NoMemory();
	Py_RETURN_NONE;
}

static PyObject *reader_get_closed(struct reader *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!self->r || self->close_pending);
}

static PyObject *reader_get_native(struct reader *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->native);
}

static PyMethodDef reader_methods[] = {
	{ "read", (PyCFunction)reader_read, METH_NOARGS,
	  "read() -> View\n\nStarts a read of the current version (mmsync_read_begin())." },
	{ "wait", (PyCFunction)(void (*)(void))reader_wait, METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None) -> bool\n\nSleeps until a version newer than the last read is "
	  "published (True) or timeout seconds pass (False); None waits for ever. Releases the GIL." },
	{ "fileno", (PyCFunction)reader_fileno, METH_NOARGS,
	  "fileno() -> int\n\nA descriptor that polls readable when a newer version may be there "
	  "(mmsync_reader_fd()); owned by the reader." },
	{ "check", (PyCFunction)reader_check, METH_NOARGS,
	  "check() -> None\n\nRaises mmsync.Error (EPIPE, ECONNRESET) once the native writer has "
	  "gone or dropped this reader (mmsync_reader_check())." },
	{ "version", (PyCFunction)reader_version, METH_NOARGS,
	  "version() -> int\n\nThe version word published now (mmsync_version())." },
	{ "_stat", (PyCFunction)reader_stat, METH_NOARGS, "The segment's figures, as a dict." },
	{ "close", (PyCFunction)reader_close, METH_NOARGS,
	  "close() -> None\n\nCloses the handle; a view still open is ended. Idempotent." },
	{ NULL },
};

static PyGetSetDef reader_getset[] = {
	{ "closed", (getter)reader_get_closed, NULL, "True once close() was called.", NULL },
	{ "native", (getter)reader_get_native, NULL, "True for a native-layout reader.", NULL },
	{ NULL },
};

PyTypeObject ext_reader_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmsync._ext.Reader",
	.tp_doc = "A reader handle (struct mmsync_reader); mmsync.Reader is the class to use.",
	.tp_basicsize = sizeof(struct reader),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)reader_init,
	.tp_dealloc = (destructor)reader_dealloc,
	.tp_methods = reader_methods,
	.tp_getset = reader_getset,
};
