/* SPDX-License-Identifier: MIT */
/* mmsync._ext: the types and exceptions the mmsync package is built on
 * (reader.c, view.c, writer.c, build.c; common.c). The Pythonic API, with
 * its keyword arguments and dataclasses, is the package's Python. */
#include "common.h"

static struct PyModuleDef ext_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "mmsync._ext",
	.m_doc = "libmmsync's handles, for the mmsync package.",
	.m_size = -1,
};

PyMODINIT_FUNC PyInit__ext(void)
{
	PyTypeObject *types[] = { &ext_reader_type, &ext_view_type, &ext_writer_type,
				  &ext_build_type };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]))
			return NULL;
	static PyStructSequence_Field info_fields[] = {
		{ "written", "Payload bytes published." },
		{ "reset", "Compat: a reader held the copy past the grace period and its count "
			   "was reset." },
		{ "version", "The version word now published." },
		{ "seq", "Native: the write's sequence number; compat: 0." },
		{ "evicted", "Native: readers evicted after the grace period." },
		{ NULL },
	};
	static PyStructSequence_Desc info_desc = {
		"mmsync.WriteInfo", "What a write did (struct mmsync_write_info).", info_fields, 5,
	};
	if (!ext_write_info_type && !(ext_write_info_type = PyStructSequence_NewType(&info_desc)))
		return NULL;
	PyObject *m = PyModule_Create(&ext_module);
	if (!m)
		return NULL;
	ext_error = PyErr_NewExceptionWithDoc(
		"mmsync.Error",
		"An error of libmmsync: an OSError whose errno is the library's and strerror "
		"mmsync_strerror()'s text.",
		PyExc_OSError, NULL);
	ext_stale_error = ext_error ? PyErr_NewExceptionWithDoc(
		"mmsync.StaleError",
		"The view was held past the writer's grace period and its copy may have been "
		"overwritten (ESTALE): discard what was read, and read again.",
		ext_error, NULL) : NULL;
	if (!ext_stale_error || PyModule_AddObjectRef(m, "Error", ext_error) ||
	    PyModule_AddObjectRef(m, "StaleError", ext_stale_error) ||
	    PyModule_AddObjectRef(m, "Reader", (PyObject *)&ext_reader_type) ||
	    PyModule_AddObjectRef(m, "View", (PyObject *)&ext_view_type) ||
	    PyModule_AddObjectRef(m, "Writer", (PyObject *)&ext_writer_type) ||
	    PyModule_AddObjectRef(m, "Build", (PyObject *)&ext_build_type) ||
	    PyModule_AddObjectRef(m, "WriteInfo", (PyObject *)ext_write_info_type)) {
		Py_DECREF(m);
		return NULL;
	}
	/* Flags the Python layer maps its keyword arguments to. */
	struct { const char *name; long value; } consts[] = {
		{ "SINGLE_WRITER", MMSYNC_SINGLE_WRITER }, { "NO_RESET", MMSYNC_NO_RESET },
		{ "WAKE_WAITERS", MMSYNC_WAKE_WAITERS }, { "HUGETLB", MMSYNC_HUGETLB },
		{ "CHECKSUM", MMSYNC_CHECKSUM }, { "BPF_OFF", MMSYNC_BPF_OFF },
		{ "BPF_REQUIRE", MMSYNC_BPF_REQUIRE }, { "KEEP_PINS", MMSYNC_KEEP_PINS },
		{ "VERIFY_CHECKSUM", MMSYNC_VERIFY_CHECKSUM }, { "FENCED", MMSYNC_FENCED },
		{ "FENCELESS", MMSYNC_FENCELESS }, { "TRUST_UNSEALED", MMSYNC_TRUST_UNSEALED },
		{ "ANY_WRITER", MMSYNC_ANY_WRITER }, { "MAX_PAYLOAD", (long)MMSYNC_MAX_PAYLOAD },
	};
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value)) {
			Py_DECREF(m);
			return NULL;
		}
	return m;
}
