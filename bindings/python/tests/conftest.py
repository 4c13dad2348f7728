# SPDX-License-Identifier: MIT
"""Fixtures of the binding's tests: scratch segments of both layouts, the
CLI and a C reader as peers, and payloads that make a torn read detectable."""
import itertools
import os
import shutil
import tempfile

import numpy
import pytest

import mmsync

CLI = os.environ.get("MMSYNC_CLI", "mmsync")
PEER = os.environ.get("MMSYNC_PEER", "python_peer")
_names = itertools.count()

# Payload of version `seq`: 8-byte words seq * K + i. Any word from another
# version, or a page of one, breaks the relation: a torn read shows.
K = numpy.uint64(0x9E3779B97F4A7C15)


def payload(seq, nbytes):
    words = numpy.arange(nbytes // 8, dtype=numpy.uint64)
    words += numpy.uint64(seq * int(K) % (1 << 64))
    return words.tobytes()


def payload_seq(buf):
    """The version a payload is of, or None if it is torn."""
    words = numpy.frombuffer(buf, dtype=numpy.uint64)
    if len(words) == 0:
        return 0
    base = words - numpy.arange(len(words), dtype=numpy.uint64)
    if not (base == base[0]).all():
        return None
    seq = int(base[0]) * pow(int(K), -1, 1 << 64) % (1 << 64)
    return seq


def unique(what):
    return f"py{os.getpid()}-{what}-{next(_names)}"


@pytest.fixture
def prefix():
    d = tempfile.mkdtemp(dir="/dev/shm", prefix="mmsync-py-")
    yield os.path.join(d, "feed")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def native():
    """A native writer serving on an abstract socket: (writer, socket)."""
    name = unique("seg")
    w = mmsync.Writer.create(name, capacity=1 << 20, bpf=False)
    sock = "@" + name
    w.listen(sock)
    yield w, sock
    w.close()
