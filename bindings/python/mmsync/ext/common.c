/* SPDX-License-Identifier: MIT */
/* Errors and conversions shared by the extension's types. */
#include <string.h>

#include "common.h"

PyObject *ext_error, *ext_stale_error;

PyObject *ext_raise(int err)
{
	/* ENOMEM too: the library's can mean no huge page is free. */
	int e = err < 0 ? -err : err;
	PyObject *type = e == ESTALE ? ext_stale_error : ext_error;
	PyObject *exc = PyObject_CallFunction(type, "is", e, mmsync_strerror(err));
	if (exc) {
		PyErr_SetObject(type, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

int ext_path(PyObject *o, void *out)
{
	if (o == Py_None) {
		*(PyObject **)out = NULL;
		return 1;
	}
	return PyUnicode_FSConverter(o, out);
}

int ext_seconds_ns(PyObject *o, uint64_t none_ns, uint64_t *ns)
{
	if (o == NULL || o == Py_None) {
		*ns = none_ns;
		return 0;
	}
	double s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s >= 0)) {
		PyErr_SetString(PyExc_ValueError, "a time in seconds must be 0 or more");
		return -1;
	}
	*ns = s >= 18e9 ? UINT64_MAX : (uint64_t)(s * 1e9);
	return 0;
}

PyTypeObject *ext_write_info_type;

PyObject *ext_write_info(const struct mmsync_write_info *info)
{
	PyObject *t = PyStructSequence_New(ext_write_info_type);
	if (!t)
		return NULL;
	PyObject *f[] = {
		PyLong_FromSize_t(info->written), PyBool_FromLong(info->reset),
		PyLong_FromUnsignedLongLong(info->version), PyLong_FromUnsignedLongLong(info->seq),
		PyLong_FromUnsignedLong(info->evicted),
	};
	bool ok = true;
	for (Py_ssize_t i = 0; i < 5; i++) {
		ok &= f[i] != NULL;
		PyStructSequence_SET_ITEM(t, i, f[i]);
	}
	if (!ok)
		Py_CLEAR(t);
	return t;
}

PyObject *ext_stat_dict(const struct mmsync_stat *st)
{
	PyObject *d = Py_BuildValue(
		"{s:K,s:I,s:K,s:I,s:(II),s:O,s:K,s:K,s:K,s:I,s:I,s:K,s:K,s:K,s:i,s:K,s:K,s:K,s:K,s:K}",
		"version", (unsigned long long)st->version, "idx", st->idx,
		"size", (unsigned long long)st->size, "checksum", st->checksum,
		"readers", st->readers[0], st->readers[1],
		"native", st->native ? Py_True : Py_False,
		"seq", (unsigned long long)st->seq, "generation", (unsigned long long)st->generation,
		"capacity", (unsigned long long)st->capacity, "max_readers", st->max_readers,
		"live_slots", st->live_slots, "evictions", (unsigned long long)st->evictions,
		"reclaimed", (unsigned long long)st->reclaimed,
		"last_publish_ns", (unsigned long long)st->last_publish_ns,
		"writer_pid", (int)st->writer_pid, "membarriers", (unsigned long long)st->membarriers,
		"membarrier_failures", (unsigned long long)st->membarrier_failures,
		"futex_wakes", (unsigned long long)st->futex_wakes,
		"wake_msgs", (unsigned long long)st->wake_msgs,
		"disconnects", (unsigned long long)st->disconnects);
	/* The writer wrote the name: whatever its bytes, a str. */
	PyObject *name = d ? PyUnicode_DecodeUTF8(st->name, (Py_ssize_t)strnlen(st->name, sizeof(st->name)),
						  "replace") : NULL;
	if (!name || PyDict_SetItemString(d, "name", name)) {
		Py_XDECREF(name);
		Py_XDECREF(d);
		return NULL;
	}
	Py_DECREF(name);
	return d;
}
