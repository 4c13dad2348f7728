# SPDX-License-Identifier: MIT
"""Nothing leaks over 100,000 read blocks: Python memory (tracemalloc),
descriptors (/proc/self/fd) and mappings (/proc/self/maps); and numpy
arrays of a view are the segment's memory, not a copy."""
import gc
import os
import tracemalloc

import numpy
import pytest

import mmsync
from conftest import payload, unique


def fds():
    return len(os.listdir("/proc/self/fd"))


def maps():
    with open("/proc/self/maps") as f:
        return f.read().splitlines()


def mapping_of(address):
    """The /proc/self/maps line whose range holds `address`."""
    for line in maps():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= address < hi:
            return line
    return None


WRITER = """
import select, sys, time, mmsync
from conftest import payload, unique
layout, target = sys.argv[1:3]
if layout == "native":
    w = mmsync.Writer.create(target[1:], bpf=False)
    w.listen(target)
else:
    w = mmsync.Writer(target)
seq = 1
w.write(payload(seq, 4096))
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0.005)[0]:
    seq += 1
    w.write(payload(seq, 4096 + seq % 3 * 8))
"""


@pytest.fixture(params=["compat", "native"])
def pair(request, prefix):
    """A writer in another process, publishing every 5 ms, and a reader here
    (whose descriptors and mappings are then the only ones that change)."""
    import subprocess
    import sys
    target = prefix if request.param == "compat" else "@" + unique("res")
    p = subprocess.Popen([sys.executable, "-c", WRITER, request.param, target],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         cwd=os.path.dirname(__file__))
    try:
        assert p.stdout.readline().strip() == "ready"
        r = mmsync.Reader.connect(target) if request.param == "native" else mmsync.Reader(target)
        yield r
        r.close()
    finally:
        p.stdin.close()
        if p.wait(30):
            raise AssertionError(f"the writer failed: {p.returncode}")


def test_no_leaks(pair):
    r = pair

    def blocks(n, keep=False):
        switched = 0
        for i in range(n):
            with r.read() as v:
                v[0]
                switched += v.switched
                if keep:
                    kept = numpy.frombuffer(v, numpy.uint8)  # outlives the block: a hold
        assert n < 20000 or switched > 1  # the versions changed under the reads
        return kept if keep else None

    # warm up: caches, the first holds, both copies mapped (compat opens
    # each copy's file at its first read)
    seen = set()
    while len(seen) < 3:
        blocks(1000, keep=True)
        seen.add(r.version())
    gc.collect()
    fd0, maps0 = fds(), len(maps())
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    blocks(100000)
    blocks(20000, keep=True)
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    assert grown < 64 * 1024, f"{grown} bytes of Python memory more after 120,000 reads"
    assert fds() == fd0
    assert len(maps()) == maps0


def test_numpy_shares_the_segment(pair):
    r = pair
    with r.read() as v:
        arr = numpy.frombuffer(v, numpy.uint64)
        address = arr.__array_interface__["data"][0]
        line = mapping_of(address)
        assert not arr.flags.writeable and not arr.flags.owndata
        assert line is not None
        if r.native:
            assert "memfd:" in line          # the writer's sealed copy
        else:
            assert "_data_" in line          # PREFIX_data_0 or _1, mapped
        # the array's bytes are the view's: the same memory, not a copy
        assert arr.tobytes() == bytes(v)
        m = memoryview(v)
        assert not m.readonly is False and m.readonly
    del arr, m


def test_large_numpy_view(native):
    """A 64 MiB table read as a numpy array in place."""
    name_w, sock = native
    big = numpy.arange(8 << 20, dtype=numpy.float64)   # 64 MiB
    name_w.write(big)
    with mmsync.Reader.connect(sock) as r, r.read() as v:
        table = numpy.frombuffer(v, numpy.float64)
        assert table.nbytes == 64 << 20
        assert table[-1] == (8 << 20) - 1 and float(table.sum()) == float(big.sum())
        assert "memfd:" in mapping_of(table.__array_interface__["data"][0])
        del table


def test_hold_ends_with_the_last_buffer(native):
    """An array kept past its read keeps the old generation's copy mapped;
    the copy is unmapped once the array goes (the hold is released)."""
    w, sock = native
    w.write(payload(1, 4096))
    r = mmsync.Reader.connect(sock)
    with r.read() as v:
        arr = numpy.frombuffer(v, numpy.uint8)
        m = memoryview(v)
    address = arr.__array_interface__["data"][0]
    w.write(payload(2, 2 << 20))   # above the capacity: a new generation
    with r.read() as v:
        assert len(v) == 2 << 20
    assert mapping_of(address) is not None
    del arr
    assert mapping_of(address) is not None   # m still holds it
    del m
    assert mapping_of(address) is None
    r.close()
