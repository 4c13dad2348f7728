/* SPDX-License-Identifier: MIT */
/*
 * mmsync._ext.View: one read, from Reader.read() to the end of its with
 * block (or release()), exposing the version's bytes through the buffer
 * protocol, read-only and without a copy.
 *
 * Objects made from it (memoryview(view), numpy.frombuffer(view)) may live
 * on after the block: Python keeps the names a with block binds. Raising
 * there would refuse the plainest numpy code, so the memory under them
 * stays mapped instead: at the end, a view with buffers still out takes a
 * hold on its mapping (mmsync_view_hold()), released with the last buffer.
 * Their bytes are the version's only inside the block; after it they stay
 * readable, never a crash, but the writer may overwrite them. New buffers
 * are refused once the read has ended.
 */
#include "common.h"

int view_end(struct view *view, int *end_err)
{
	struct reader *reader = view->reader;
	if (view->exports) {
		int err = mmsync_view_hold(reader->r, &view->v, &view->hold);
		if (err)
			return err; /* the read stays open: nothing may be unmapped under them */
	}
	view->state = VIEW_ENDED;
	reader->open = NULL;
	*end_err = mmsync_read_end(reader->r, &view->v);
	return 0;
}

int view_close(struct view *view)
{
	int err = view_end(view, &view->closed_err);
	if (!err)
		view->state = VIEW_CLOSED;
	return err;
}

/* Ends the read for __exit__ and release(): None, or raises. */
static PyObject *view_finish(struct view *view)
{
	if (view->state == VIEW_ENDED)
		Py_RETURN_NONE;
	if (view->state == VIEW_CLOSED) {
		view->state = VIEW_ENDED;
		PyErr_SetString(PyExc_ValueError,
				"the reader was closed during the read: its bytes are not known good");
		return NULL;
	}
	if (view->reader->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the reader is in use by another thread (wait()): give each thread a Reader of its own");
		return NULL;
	}
	int end_err, err = view_end(view, &end_err);
	if (err || end_err)
		return ext_raise(err ? err : end_err);
	Py_RETURN_NONE;
}

static void view_dealloc(struct view *view)
{
	/* A view dropped inside its read (no with block, no release()): the
	 * read ends, quietly. Its buffers hold references, so none is out. */
	struct reader *reader = view->reader;
	if (view->state == VIEW_OPEN && reader->busy) {
		/* Another thread has the handle (wait()): it ends the read. */
		reader->orphan = view->v;
		reader->orphaned = true;
		reader->open = NULL;
	} else if (view->state == VIEW_OPEN) {
		int end_err;
		view_end(view, &end_err);
	}
	mmsync_hold_release(view->hold);
	Py_DECREF(view->reader);
	PyObject_Free(view);
}

static int view_getbuffer(struct view *view, Py_buffer *buf, int flags)
{
	if (view->state != VIEW_OPEN) {
		PyErr_SetString(PyExc_BufferError,
				"the read has ended: take buffers of a view inside its with block");
		buf->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(buf, (PyObject *)view, (void *)view->v.data, (Py_ssize_t)view->v.len,
			      1, flags))
		return -1;
	view->exports++;
	return 0;
}

static void view_releasebuffer(struct view *view, Py_buffer *buf)
{
	(void)buf;
	if (--view->exports == 0 && view->hold) {
		mmsync_hold_release(view->hold);
		view->hold = NULL;
	}
}

static PyBufferProcs view_as_buffer = {
	.bf_getbuffer = (getbufferproc)view_getbuffer,
	.bf_releasebuffer = (releasebufferproc)view_releasebuffer,
};

static PyObject *view_enter(struct view *view, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(view);
}

static PyObject *view_exit(struct view *view, PyObject *const *args, Py_ssize_t n)
{
	(void)args;
	(void)n;
	return view_finish(view);
}

static PyObject *view_release(struct view *view, PyObject *unused)
{
	(void)unused;
	return view_finish(view);
}

static Py_ssize_t view_length(struct view *view)
{
	return (Py_ssize_t)view->v.len;
}

/* view[i] is a byte, as in bytes; a slice is a memoryview of the range. */
static PyObject *view_subscript(struct view *view, PyObject *key)
{
	if (view->state != VIEW_OPEN) {
		PyErr_SetString(PyExc_ValueError, "the read has ended");
		return NULL;
	}
	if (PyIndex_Check(key)) {
		Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
		if (i == -1 && PyErr_Occurred())
			return NULL;
		if (i < 0)
			i += (Py_ssize_t)view->v.len;
		if (i < 0 || (size_t)i >= view->v.len) {
			PyErr_SetString(PyExc_IndexError, "view index out of range");
			return NULL;
		}
		return PyLong_FromLong(((const unsigned char *)view->v.data)[i]);
	}
	PyObject *mv = PyMemoryView_FromObject((PyObject *)view);
	if (!mv)
		return NULL;
	PyObject *res = PyObject_GetItem(mv, key);
	Py_DECREF(mv);
	return res;
}

static PyMappingMethods view_as_mapping = {
	.mp_length = (lenfunc)view_length,
	.mp_subscript = (binaryfunc)view_subscript,
};

static PyObject *view_get_version(struct view *view, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(view->v.version);
}

static PyObject *view_get_seq(struct view *view, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(view->v.seq);
}

static PyObject *view_get_switched(struct view *view, void *unused)
{
	(void)unused;
	return PyBool_FromLong(view->v.switched);
}

static PyObject *view_get_open(struct view *view, void *unused)
{
	(void)unused;
	return PyBool_FromLong(view->state == VIEW_OPEN);
}

static PyMethodDef view_methods[] = {
	{ "__enter__", (PyCFunction)view_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)(void (*)(void))view_exit, METH_FASTCALL, NULL },
	{ "release", (PyCFunction)view_release, METH_NOARGS,
	  "release() -> None\n\nEnds the read, as leaving the with block does: raises "
	  "mmsync.StaleError when the writer overwrote the view's copy while it was held "
	  "(its bytes must be discarded). Ending it twice is a no-op." },
	{ NULL },
};

static PyGetSetDef view_getset[] = {
	{ "version", (getter)view_get_version, NULL, "The version word of these bytes.", NULL },
	{ "seq", (getter)view_get_seq, NULL, "Native: the write's sequence number; compat: 0.", NULL },
	{ "switched", (getter)view_get_switched, NULL,
	  "True when the version differs from the reader's previous read.", NULL },
	{ "open", (getter)view_get_open, NULL, "True until the read ends.", NULL },
	{ NULL },
};

PyTypeObject ext_view_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmsync.View",
	.tp_doc = "One read of the current version: a read-only buffer of its bytes (no copy), "
		  "valid inside its with block.\n\n"
		  "    with reader.read() as view:\n"
		  "        header = bytes(view[:16])\n"
		  "        table = numpy.frombuffer(view, numpy.float32)\n\n"
		  "Leaving the block ends the read and raises mmsync.StaleError when the view was "
		  "held past the writer's grace period and its copy overwritten: what was read must "
		  "be discarded. Buffers made from the view stay readable after the block (never a "
		  "crash) but their bytes may then change.",
	.tp_basicsize = sizeof(struct view),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)view_dealloc,
	.tp_as_buffer = &view_as_buffer,
	.tp_as_mapping = &view_as_mapping,
	.tp_methods = view_methods,
	.tp_getset = view_getset,
};
