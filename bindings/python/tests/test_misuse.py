# SPDX-License-Identifier: MIT
"""No misuse crashes the interpreter. Each risky case runs in a child
interpreter, so that a crash (SIGSEGV, SIGBUS, an abort) fails the test
with its signal instead of taking pytest down."""
import errno
import subprocess
import sys
import textwrap
import threading
import time

import numpy
import pytest

import mmsync
from conftest import payload, payload_seq, unique


def run_child(code):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


PRELUDE = """
import gc, numpy, mmsync
from conftest import payload, payload_seq, unique
"""


def child(code):
    return run_child("import sys; sys.path.insert(0, %r)\n" % sys.path[0] + PRELUDE +
                     textwrap.dedent(code))


def test_buffers_outlive_the_block_native():
    """A memoryview and a numpy array kept after the block, through a new
    generation (the old copies unmapped by the library, but held), then the
    reader's close: still readable, with the old version's bytes."""
    out = child("""
        name = unique("outlive")
        w = mmsync.Writer.create(name, capacity=64 << 10, bpf=False)
        w.listen("@" + name)
        w.write(payload(1, 32 << 10))
        r = mmsync.Reader.connect("@" + name)
        with r.read() as view:
            arr = numpy.frombuffer(view, numpy.uint64)
            mv = memoryview(view)
        assert not view.open
        w.write(payload(2, 256 << 10))   # a new generation: larger than the copies
        with r.read() as v2:
            assert payload_seq(v2) == 2
        assert r.stat().generation == 2
        # the old copy is kept for arr and mv; its bytes are version 1's
        assert payload_seq(arr.tobytes()) == 1
        assert payload_seq(mv) == 1
        r.close()
        w.close()
        assert payload_seq(arr.tobytes()) == 1 and mv[0] == arr.view(numpy.uint8)[0]
        del mv
        assert payload_seq(arr.tobytes()) == 1   # still held by arr
        del arr
        gc.collect()
        print("ok")
    """)
    assert out.strip() == "ok"


def test_buffers_outlive_the_block_compat(prefix):
    """Compat: the file of the view's copy grows and is mapped again under a
    kept array; the close follows; the array stays readable."""
    out = child(f"""
        w = mmsync.Writer({prefix!r})
        r = mmsync.Reader({prefix!r})
        w.write(payload(1, 4096))
        with r.read() as view:
            arr = numpy.frombuffer(view, numpy.uint64)
        w.write(payload(2, 4096))
        w.write(payload(3, 8 << 20))   # copy 0 again, grown: mapped again
        with r.read() as v:
            assert payload_seq(v) == 3
        r.close()
        assert len(arr) == 512 and int(arr[5]) >= 0   # mapped: no SIGSEGV
        print("ok")
    """)
    assert out.strip() == "ok"


def test_view_after_the_block(prefix):
    w = mmsync.Writer(prefix)
    w.write(b"abc")
    r = mmsync.Reader(prefix)
    with r.read() as view:
        pass
    with pytest.raises(BufferError):
        memoryview(view)
    with pytest.raises(BufferError):
        numpy.frombuffer(view, numpy.uint8)
    with pytest.raises(ValueError):
        view[0]
    assert view.version and len(view) == 3   # the figures stay
    view.release()   # ending twice: a no-op
    view.release()
    # dropped without a with block or release(): the read ends
    v = r.read()
    del v
    with r.read() as v:
        assert bytes(v) == b"abc"
    r.close()
    w.close()


def test_close_inside_the_block(prefix):
    w = mmsync.Writer(prefix)
    w.write(b"abc")
    r = mmsync.Reader(prefix)
    with pytest.raises(ValueError, match="closed during the read"):
        with r.read() as view:
            mv = memoryview(view)
            r.close()
            assert mv[0] == ord("a")   # held: still mapped
    assert mv.tobytes() == b"abc"
    with pytest.raises(ValueError):
        r.read()
    w.close()


def test_reader_shared_between_threads(native):
    """One thread waits (without the GIL); another uses the same reader: it
    is told, not crashed; a close from it is done when the wait returns."""
    w, sock = native
    r = mmsync.Reader.connect(sock)
    result = {}

    def waiter():
        try:
            result["woke"] = r.wait(30)
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = e

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + 10
    while True:  # until the waiter holds the handle
        try:
            with r.read():
                pass
        except RuntimeError as e:
            assert "another thread" in str(e)
            break
        assert time.monotonic() < deadline, "the waiter never took the handle"
        time.sleep(0.01)
    with pytest.raises(RuntimeError):
        r.version()
    with pytest.raises(RuntimeError):
        r.fileno()
    r.close()            # left to the waiting thread
    assert r.closed
    w.write(b"wake up")
    t.join(30)
    assert not t.is_alive()
    assert result == {"woke": True}
    with pytest.raises(ValueError):
        r.read()


def test_view_dropped_while_another_thread_waits(native):
    w, sock = native
    w.write(b"v1")
    r = mmsync.Reader.connect(sock)
    view = r.read()
    result = {}

    def waiter():
        try:
            r.wait(5)
        except mmsync.Error as e:
            result["errno"] = e.errno

    t = threading.Thread(target=waiter)
    t.start()
    t.join(30)
    assert result == {"errno": errno.EBUSY}   # a view is open: the library says so
    del view
    with r.read() as v:
        assert bytes(v) == b"v1"
    r.close()


def test_threads_reading_their_own_readers(native):
    """The supported way: a reader per thread, all reading while writes go on."""
    w, sock = native
    w.write(payload(1, 4096))
    errors = []
    stop = threading.Event()

    def read_loop():
        try:
            with mmsync.Reader.connect(sock) as r:
                while not stop.is_set():
                    with r.read() as v:
                        if payload_seq(v) is None:
                            errors.append("torn")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=read_loop) for _ in range(4)]
    for t in threads:
        t.start()
    for seq in range(2, 300):
        w.write(payload(seq, 4096))
    stop.set()
    for t in threads:
        t.join(30)
    assert errors == []


def test_writer_shared_between_threads(prefix):
    w = mmsync.Writer(prefix)
    r = mmsync.Reader(prefix)
    w.write(b"held")
    view = r.read()  # the write below waits out its grace period for this reader
    w.write(b"other copy")
    done = threading.Event()

    def slow_write():
        w.write(b"waits", grace=1.0)
        done.set()

    t = threading.Thread(target=slow_write)
    t.start()
    deadline = time.monotonic() + 10
    while True:  # until the writing thread holds the handle (for 1 s at least)
        try:
            w.stat()
        except RuntimeError as e:
            assert "another thread" in str(e)
            break
        assert time.monotonic() < deadline and not done.is_set()
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="another thread"):
        w.write(b"meanwhile")
    w.close()   # left to the writing thread
    t.join(30)
    assert done.is_set() and w.closed
    # held past the grace period: the count was reset, and the reader is told
    with pytest.raises(mmsync.StaleError) as e:
        view.release()
    assert e.value.errno == errno.ESTALE
    r.close()


def test_gc_of_open_handles(prefix):
    out = child(f"""
        for i in range(200):
            w = mmsync.Writer({prefix!r})
            w.write(b"x" * i)
            r = mmsync.Reader({prefix!r})
            v = r.read()
            mv = memoryview(v)
            del r, w       # the view keeps its reader
            assert len(mv) == i
            del v          # ends the read; mv keeps the mapping
            assert len(mv.tobytes()) == i
        print("ok")
    """)
    assert out.strip() == "ok"
