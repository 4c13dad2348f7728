/* SPDX-License-Identifier: MIT */
/*
 * mmsync._ext.Writer: a writer handle of either layout, and its calls.
 *
 * Writes wait for readers (up to twice the grace period) and copy the
 * payload: they run without the GIL, the handle marked busy meanwhile, as
 * Reader.wait() does. The service thread that serves readers
 * (MMSYNC_LISTEN_SERVE) is the library's own and never runs Python.
 */
#include "common.h"

bool writer_usable(struct writer *self)
{
	if (!self->w || self->close_pending) {
		PyErr_SetString(PyExc_ValueError, "the writer is closed");
		return false;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
				"the writer is in use by another thread: one thread at a time writes");
		return false;
	}
	return true;
}

/* Whether the copies may change: no build open, none pinned. */
static bool writer_writable(struct writer *self)
{
	if (!writer_usable(self))
		return false;
	if (self->building) {
		PyErr_SetString(PyExc_RuntimeError, "a build() block is open: commit or abort it first");
		return false;
	}
	if (self->pinned) {
		PyErr_SetString(PyExc_BufferError,
				"buffers of an aborted build() are still alive (a memoryview or numpy "
				"array): release them first");
		return false;
	}
	return true;
}

void writer_settle(struct writer *self)
{
	self->busy = false;
	if (self->close_pending && !self->pinned && !self->building) {
		self->close_pending = false;
		struct mmsync_writer *w = self->w;
		self->w = NULL;
		Py_BEGIN_ALLOW_THREADS /* joins the service thread */
		mmsync_writer_close(w);
		Py_END_ALLOW_THREADS
	}
}

void writer_unpin(struct writer *self)
{
	self->pinned--;
	writer_settle(self);
}

static int writer_init(struct writer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "target",	"native",      "flags",	      "trust_uid",
				  "capacity",	"max_readers", "hugetlbfs_dir", "chunk_size",
				  "queue_depth", NULL };
	const char *target, *hugetlbfs_dir = NULL;
	int native = 0;
	unsigned flags = 0, trust_uid = 0, max_readers = 0, queue_depth = 0;
	unsigned long long capacity = 0;
	Py_ssize_t chunk_size = 0;

	if (self->w) {
		PyErr_SetString(PyExc_RuntimeError, "the writer is already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|pIIKIznI", kwlist, &target, &native, &flags,
					 &trust_uid, &capacity, &max_readers, &hugetlbfs_dir,
					 &chunk_size, &queue_depth))
		return -1;
	if (chunk_size < 0) {
		PyErr_SetString(PyExc_ValueError, "chunk_size must be 0 or more");
		return -1;
	}
	struct mmsync_writer *w;
	int err;
	if (native) {
		MMSYNC_OPTS(mmsync_native_opts, o, .flags = flags, .max_readers = max_readers,
			    .capacity = capacity, .hugetlbfs_dir = hugetlbfs_dir,
			    .chunk_size = (size_t)chunk_size, .queue_depth = queue_depth);
		Py_BEGIN_ALLOW_THREADS
		err = mmsync_writer_create(&w, target, &o);
		Py_END_ALLOW_THREADS
	} else {
		MMSYNC_OPTS(mmsync_writer_opts, o, .flags = flags, .trust_uid = (uid_t)trust_uid);
		err = mmsync_writer_open(&w, target, &o);
	}
	if (err) {
		ext_raise(err);
		return -1;
	}
	self->w = w;
	self->native = native;
	return 0;
}

static void writer_dealloc(struct writer *self)
{
	/* Builds and their buffers hold references: none is alive here. */
	if (self->w) {
		Py_BEGIN_ALLOW_THREADS /* joins the service thread */
		mmsync_writer_close(self->w);
		Py_END_ALLOW_THREADS
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *writer_write(struct writer *self, PyObject *args)
{
	Py_buffer data;
	unsigned long long grace_ns;
	struct mmsync_write_info info = { 0 };

	if (!PyArg_ParseTuple(args, "y*K", &data, &grace_ns))
		return NULL;
	if (!writer_writable(self)) {
		PyBuffer_Release(&data);
		return NULL;
	}
	struct mmsync_writer *w = self->w;
	int err;
	self->busy = true;
	Py_BEGIN_ALLOW_THREADS
	err = mmsync_write(w, data.buf, (size_t)data.len, grace_ns, &info);
	Py_END_ALLOW_THREADS
	writer_settle(self);
	PyBuffer_Release(&data);
	return err ? ext_raise(err) : ext_write_info(&info);
}

static PyObject *writer_write_from_fd(struct writer *self, PyObject *args)
{
	int fd;
	long long offset;
	Py_ssize_t len;
	unsigned long long grace_ns;
	struct mmsync_write_info info = { 0 };

	if (!PyArg_ParseTuple(args, "iLnK", &fd, &offset, &len, &grace_ns))
		return NULL;
	if (len < 0)
		return PyErr_Format(PyExc_ValueError, "length must be 0 or more");
	if (!writer_writable(self))
		return NULL;
	struct mmsync_writer *w = self->w;
	int err;
	self->busy = true;
	Py_BEGIN_ALLOW_THREADS
	err = mmsync_write_from_fd(w, fd, offset, (size_t)len, grace_ns, &info);
	Py_END_ALLOW_THREADS
	writer_settle(self);
	return err ? ext_raise(err) : ext_write_info(&info);
}

static PyObject *writer_build(struct writer *self, PyObject *args)
{
	Py_ssize_t len;
	unsigned long long grace_ns;

	if (!PyArg_ParseTuple(args, "nK", &len, &grace_ns))
		return NULL;
	if (len < 0)
		return PyErr_Format(PyExc_ValueError, "length must be 0 or more");
	if (!writer_usable(self))
		return NULL;
	struct build *b = PyObject_New(struct build, &ext_build_type);
	if (!b)
		return NULL;
	Py_INCREF(self);
	b->writer = self;
	b->ptr = NULL;
	b->len = (size_t)len;
	b->commit_len = (size_t)len;
	b->grace_ns = grace_ns;
	b->exports = 0;
	b->memview = NULL;
	b->info = NULL;
	b->state = BUILD_NEW;
	b->pinned = false;
	return (PyObject *)b;
}

static PyObject *writer_listen(struct writer *self, PyObject *args)
{
	PyObject *path_obj, *uids_obj, *gids_obj;
	unsigned mode;
	int serve;
	const char *path = NULL;

	if (!PyArg_ParseTuple(args, "OOOIp", &path_obj, &uids_obj, &gids_obj, &mode, &serve))
		return NULL;
	if (!writer_usable(self))
		return NULL;
	if (path_obj != Py_None && !(path = PyUnicode_AsUTF8(path_obj)))
		return NULL;
	PyObject *uids = PySequence_Fast(uids_obj, "allow_uids must be a sequence of ints");
	PyObject *gids = uids ? PySequence_Fast(gids_obj, "allow_gids must be a sequence of ints") : NULL;
	uid_t *u = NULL;
	gid_t *g = NULL;
	PyObject *res = NULL;
	if (!gids)
		goto out;
	Py_ssize_t nu = PySequence_Fast_GET_SIZE(uids), ng = PySequence_Fast_GET_SIZE(gids);
	u = PyMem_Calloc((size_t)nu + 1, sizeof(*u));
	g = PyMem_Calloc((size_t)ng + 1, sizeof(*g));
	if (!u || !g) {
		PyErr_NoMemory();
		goto out;
	}
	for (Py_ssize_t i = 0; i < nu + ng; i++) {
		PyObject *o = i < nu ? PySequence_Fast_GET_ITEM(uids, i)
				     : PySequence_Fast_GET_ITEM(gids, i - nu);
		unsigned long id = PyLong_AsUnsignedLong(o);
		if (PyErr_Occurred())
			goto out;
		if (id > UINT32_MAX - 1) {
			PyErr_SetString(PyExc_ValueError, "a uid or gid is below 2**32 - 1");
			goto out;
		}
		if (i < nu)
			u[i] = (uid_t)id;
		else
			g[i - nu] = (gid_t)id;
	}
	MMSYNC_OPTS(mmsync_listen_opts, o, .allow_uids = u, .n_allow_uids = (size_t)nu,
		    .allow_gids = g, .n_allow_gids = (size_t)ng, .mode = mode,
		    .flags = serve ? MMSYNC_LISTEN_SERVE : 0);
	int err = mmsync_writer_listen(self->w, path, &o);
	res = err ? ext_raise(err) : Py_NewRef(Py_None);
out:
	PyMem_Free(u);
	PyMem_Free(g);
	Py_XDECREF(uids);
	Py_XDECREF(gids);
	return res;
}

static PyObject *writer_dispatch(struct writer *self, PyObject *unused)
{
	(void)unused;
	if (!writer_usable(self))
		return NULL;
	int err = mmsync_writer_dispatch(self->w);
	if (err)
		return ext_raise(err);
	Py_RETURN_NONE;
}

static PyObject *writer_fileno(struct writer *self, PyObject *unused)
{
	(void)unused;
	if (!writer_usable(self))
		return NULL;
	int fd = mmsync_writer_fd(self->w);
	return fd < 0 ? ext_raise(fd) : PyLong_FromLong(fd);
}

static PyObject *writer_stat(struct writer *self, PyObject *unused)
{
	(void)unused;
	struct mmsync_stat st = { .sz = sizeof(st) };
	if (!writer_usable(self))
		return NULL;
	int err = mmsync_writer_stat(self->w, &st);
	return err ? ext_raise(err) : ext_stat_dict(&st);
}

static PyObject *writer_export_fds(struct writer *self, PyObject *unused)
{
	(void)unused;
	int fds[MMSYNC_NR_FDS];
	if (!writer_usable(self))
		return NULL;
	int err = mmsync_writer_export_fds(self->w, fds);
	if (err)
		return ext_raise(err);
	return Py_BuildValue("(iiii)", fds[0], fds[1], fds[2], fds[3]);
}

static PyObject *writer_close(struct writer *self, PyObject *unused)
{
	(void)unused;
	if (!self->w)
		Py_RETURN_NONE;
	if (self->busy || self->pinned || self->building) {
		/* Done by the writing thread, or when the last buffer into a
		 * copy is released: nothing is unmapped under them. */
		self->close_pending = true;
		Py_RETURN_NONE;
	}
	self->close_pending = true;
	writer_settle(self);
	Py_RETURN_NONE;
}

static PyObject *writer_get_closed(struct writer *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!self->w || self->close_pending);
}

static PyObject *writer_get_native(struct writer *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->native);
}

static PyMethodDef writer_methods[] = {
	{ "_write", (PyCFunction)writer_write, METH_VARARGS, NULL },
	{ "_write_from_fd", (PyCFunction)writer_write_from_fd, METH_VARARGS, NULL },
	{ "_build", (PyCFunction)writer_build, METH_VARARGS, NULL },
	{ "_listen", (PyCFunction)writer_listen, METH_VARARGS, NULL },
	{ "_stat", (PyCFunction)writer_stat, METH_NOARGS, NULL },
	{ "dispatch", (PyCFunction)writer_dispatch, METH_NOARGS,
	  "dispatch() -> None\n\nServes connecting and leaving readers, for a writer that listens "
	  "with serve=False (mmsync_writer_dispatch()): call it when fileno() polls readable." },
	{ "fileno", (PyCFunction)writer_fileno, METH_NOARGS,
	  "fileno() -> int\n\nA descriptor that polls readable when dispatch() has work "
	  "(mmsync_writer_fd()); owned by the writer." },
	{ "export_fds", (PyCFunction)writer_export_fds, METH_NOARGS,
	  "export_fds() -> (int, int, int, int)\n\nNew descriptors of the segment for trusted "
	  "readers started by this process (mmsync_writer_export_fds()); the caller closes them." },
	{ "close", (PyCFunction)writer_close, METH_NOARGS,
	  "close() -> None\n\nCloses the handle (the files or copies stay for readers); stops the "
	  "service thread. Idempotent." },
	{ NULL },
};

static PyGetSetDef writer_getset[] = {
	{ "closed", (getter)writer_get_closed, NULL, "True once close() was called.", NULL },
	{ "native", (getter)writer_get_native, NULL, "True for a native-layout writer.", NULL },
	{ NULL },
};

PyTypeObject ext_writer_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmsync._ext.Writer",
	.tp_doc = "A writer handle (struct mmsync_writer); mmsync.Writer is the class to use.",
	.tp_basicsize = sizeof(struct writer),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)writer_init,
	.tp_dealloc = (destructor)writer_dealloc,
	.tp_methods = writer_methods,
	.tp_getset = writer_getset,
};
