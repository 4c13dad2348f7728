/* SPDX-License-Identifier: MIT */
/*
 * mmsync._ext.Build: Writer.build(n) — write_begin, a writable memoryview of
 * the copy being built for the with block, then commit (or abort on an
 * exception).
 *
 * Unlike a reader's view, the buffer must not outlive the block: after the
 * commit it would write into the version readers are reading. So the
 * block's memoryview is released at its end, and if anything made from it
 * is still alive (a numpy array, a slice) the build is aborted with a
 * BufferError. Those objects still point into the copy: until they are
 * released the writer is pinned (no write, and a close waits), so that the
 * copy is neither unmapped nor written under them.
 */
#include "common.h"

static void build_dealloc(struct build *b)
{
	struct writer *w = b->writer;
	if (b->state == BUILD_OPEN) { /* entered and dropped, never exited */
		mmsync_write_abort(w->w);
		w->building = false;
		writer_settle(w);
	}
	Py_XDECREF(b->memview);
	Py_XDECREF(b->info);
	Py_DECREF(w);
	PyObject_Free(b);
}

static int build_getbuffer(struct build *b, Py_buffer *buf, int flags)
{
	if (b->state != BUILD_OPEN) {
		PyErr_SetString(PyExc_BufferError, "the build has ended");
		buf->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(buf, (PyObject *)b, b->ptr, (Py_ssize_t)b->len, 0, flags))
		return -1;
	b->exports++;
	return 0;
}

static void build_releasebuffer(struct build *b, Py_buffer *buf)
{
	(void)buf;
	if (--b->exports == 0 && b->pinned) {
		b->pinned = false;
		writer_unpin(b->writer);
	}
}

static PyBufferProcs build_as_buffer = {
	.bf_getbuffer = (getbufferproc)build_getbuffer,
	.bf_releasebuffer = (releasebufferproc)build_releasebuffer,
};

static PyObject *build_enter(struct build *b, PyObject *unused)
{
	(void)unused;
	struct writer *w = b->writer;
	if (b->state != BUILD_NEW)
		return PyErr_Format(PyExc_RuntimeError, "a build is entered once");
	if (!writer_usable(w))
		return NULL;
	if (w->building)
		return PyErr_Format(PyExc_RuntimeError, "a build() block is open already");
	if (w->pinned)
		return PyErr_Format(PyExc_BufferError,
				    "buffers of an aborted build() are still alive: release them first");
	struct mmsync_writer *h = w->w;
	void *ptr = NULL;
	int err;
	w->busy = true;
	Py_BEGIN_ALLOW_THREADS /* waits for readers to leave the copy */
	err = mmsync_write_begin(h, b->len, b->grace_ns, &ptr);
	Py_END_ALLOW_THREADS
	writer_settle(w);
	if (err)
		return ext_raise(err);
	b->ptr = ptr;
	b->state = BUILD_OPEN;
	w->building = true;
	PyObject *mv = PyMemoryView_FromObject((PyObject *)b);
	if (mv && !(b->memview = PyWeakref_NewRef(mv, NULL)))
		Py_CLEAR(mv);
	if (!mv) {
		mmsync_write_abort(h);
		w->building = false;
		b->state = BUILD_DONE;
	}
	return mv;
}

static PyObject *build_exit(struct build *b, PyObject *const *args, Py_ssize_t n)
{
	struct writer *w = b->writer;
	bool failed = n > 0 && args[0] != Py_None;
	if (b->state != BUILD_OPEN)
		Py_RETURN_NONE;
	b->state = BUILD_DONE; /* no buffer from here on */
	w->building = false;
	PyObject *mv = b->memview ? PyWeakref_GetObject(b->memview) : Py_None;
	if (mv != Py_None) {
		PyObject *r = PyObject_CallMethod(mv, "release", NULL);
		if (r)
			Py_DECREF(r);
		else if (PyErr_ExceptionMatches(PyExc_BufferError))
			PyErr_Clear(); /* exported further: counted below */
		else
			return NULL;
	}
	Py_CLEAR(b->memview);
	if (b->exports) {
		mmsync_write_abort(w->w);
		b->pinned = true;
		w->pinned++;
		writer_settle(w);
		if (failed)
			Py_RETURN_NONE; /* the block's own exception says more */
		return PyErr_Format(PyExc_BufferError,
				    "%zd buffer(s) made from the build's memoryview (a numpy array, a "
				    "slice) outlive the block: nothing was published. Drop them inside "
				    "the block (del), or copy what must outlive it",
				    b->exports);
	}
	if (failed) {
		mmsync_write_abort(w->w);
		writer_settle(w);
		Py_RETURN_NONE;
	}
	struct mmsync_write_info info = { 0 };
	int err = mmsync_write_commit(w->w, b->commit_len, &info);
	writer_settle(w);
	if (err)
		return ext_raise(err);
	b->info = ext_write_info(&info);
	if (!b->info)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *build_get_length(struct build *b, void *unused)
{
	(void)unused;
	return PyLong_FromSize_t(b->commit_len);
}

static int build_set_length(struct build *b, PyObject *value, void *unused)
{
	(void)unused;
	if (!value) {
		PyErr_SetString(PyExc_AttributeError, "length cannot be deleted");
		return -1;
	}
	Py_ssize_t n = PyNumber_AsSsize_t(value, PyExc_OverflowError);
	if (n == -1 && PyErr_Occurred())
		return -1;
	if (n < 0 || (size_t)n > b->len) {
		PyErr_Format(PyExc_ValueError, "length must be within 0..%zu", b->len);
		return -1;
	}
	b->commit_len = (size_t)n;
	return 0;
}

static PyObject *build_get_info(struct build *b, void *unused)
{
	(void)unused;
	return Py_NewRef(b->info ? b->info : Py_None);
}

static PyMethodDef build_methods[] = {
	{ "__enter__", (PyCFunction)build_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)(void (*)(void))build_exit, METH_FASTCALL, NULL },
	{ NULL },
};

static PyGetSetDef build_getset[] = {
	{ "length", (getter)build_get_length, (setter)build_set_length,
	  "Bytes the commit publishes: the buffer's length unless set lower in the block.", NULL },
	{ "_info", (getter)build_get_info, NULL, NULL, NULL },
	{ NULL },
};

PyTypeObject ext_build_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmsync.Build",
	.tp_doc = "The next version built in place (Writer.build()):\n\n"
		  "    with writer.build(n) as buf:   # a writable memoryview of n bytes\n"
		  "        buf[:5] = b'hello'\n\n"
		  "The block's end publishes it; an exception in the block drops it. Set .length "
		  "in the block to publish fewer bytes; .info is the write's info after.",
	.tp_basicsize = sizeof(struct build),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)build_dealloc,
	.tp_as_buffer = &build_as_buffer,
	.tp_methods = build_methods,
	.tp_getset = build_getset,
};
