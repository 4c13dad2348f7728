# SPDX-License-Identifier: MIT
"""Readers of both layouts: reads, waits, figures, errors."""
import errno
import select
import threading
import time

import pytest

import mmsync
from conftest import payload, payload_seq


def test_compat_read(prefix):
    r = mmsync.Reader(prefix)
    with pytest.raises(mmsync.Error) as e:
        r.read()
    assert e.value.errno == errno.ENOENT
    assert "state file" in e.value.strerror or e.value.strerror
    w = mmsync.Writer(prefix)
    with pytest.raises(mmsync.Error) as e:
        r.read()
    assert e.value.errno == errno.ENODATA
    info = w.write(payload(1, 4096))
    assert info.written == 4096 and info.seq == 0
    with r.read() as view:
        assert view.open
        assert view.version == info.version == r.version()
        assert view.switched
        assert len(view) == 4096
        assert payload_seq(view) == 1
        assert view[0] == payload(1, 8)[0] and view[-1] == payload(1, 4096)[-1]
        assert bytes(view[8:16]) == payload(1, 16)[8:]
        with pytest.raises(IndexError):
            view[4096]
        # a second view of one handle: the library's EBUSY
        with pytest.raises(mmsync.Error) as e:
            r.read()
        assert e.value.errno == errno.EBUSY
    assert not view.open
    with r.read() as view:
        assert not view.switched
    st = r.stat()
    assert (st.version, st.size, st.native, st.readers) == (info.version, 4096, False, (0, 0))
    r.close()
    r.close()
    assert r.closed
    with pytest.raises(ValueError):
        r.read()
    w.close()


def test_native_read(native):
    w, sock = native
    w.write(b"first")
    with mmsync.Reader.connect(sock) as r:
        assert r.native
        with r.read() as v:
            assert (bytes(v), v.seq, v.switched) == (b"first", 1, True)
        r.check()
        w.write(b"second")  # the figures are the last write's (or dispatch's)
        st = r.stat()
        assert st.native and st.seq == 2 and st.live_slots == 1 and st.name == w.stat().name
    assert r.closed


def test_connect_errors(native):
    with pytest.raises(mmsync.Error) as e:
        mmsync.Reader.connect("@mmsync-py-nobody-listens")
    assert e.value.errno == errno.ECONNREFUSED
    with pytest.raises(ValueError):
        mmsync.Reader.connect(native[1], timeout=0)
    with pytest.raises(TypeError):
        mmsync.Reader.connect(native[1], no_such_option=True)


def test_writer_gone(native):
    w, sock = native
    w.write(b"last")
    r = mmsync.Reader.connect(sock)
    w.close()
    with pytest.raises(mmsync.Error) as e:
        r.check()
    assert e.value.errno == errno.EPIPE
    with r.read() as v:  # the last version stays readable
        assert bytes(v) == b"last"
    r.close()


@pytest.mark.parametrize("layout", ["compat", "native"])
def test_wait(layout, prefix, native):
    if layout == "compat":
        w, r = mmsync.Writer(prefix), None
        r = mmsync.Reader(prefix)
    else:
        w, sock = native
        r = mmsync.Reader.connect(sock)
    t0 = time.monotonic()
    assert r.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.045
    w.write(b"one")
    assert r.wait(5) is True
    with r.read() as v:
        assert bytes(v) == b"one"
    assert r.wait(0) is False
    # woken by a write from another thread while this one sleeps without the GIL
    timer = threading.Timer(0.2, w.write, args=(b"two",))
    timer.start()
    t0 = time.monotonic()
    assert r.wait(10) is True
    assert time.monotonic() - t0 < 5
    timer.join()
    with r.read() as v:
        assert bytes(v) == b"two"
    # the descriptor: readable once a newer version is there
    fd = r.fileno()
    assert r.fileno() == fd
    p = select.poll()
    p.register(fd, select.POLLIN)
    with r.read():
        pass
    if layout == "native":  # compat's is a timer, 10 ms after each read
        assert p.poll(50) == []
    w.write(b"three")
    assert p.poll(5000)
    with r.read() as v:
        assert bytes(v) == b"three"
    r.close()
    if layout == "compat":
        w.close()


def test_wait_interrupted_by_signal(native):
    """A KeyboardInterrupt ends a wait at once (the library's wait never does)."""
    import _thread
    w, sock = native
    r = mmsync.Reader.connect(sock)
    threading.Timer(0.2, _thread.interrupt_main).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        r.wait()
    assert time.monotonic() - t0 < 5
    r.close()


def test_verify_checksum(prefix, native):
    w = mmsync.Writer(prefix)
    w.write(b"checked")
    r = mmsync.Reader(prefix, verify_checksum=True)
    with r.read() as v:
        assert bytes(v) == b"checked"
    r.close()
    # a native segment published without checksums cannot be verified
    with pytest.raises(mmsync.Error) as e:
        mmsync.Reader.connect(native[1], verify_checksum=True)
    assert e.value.errno == errno.EOPNOTSUPP


def test_error_is_oserror():
    with pytest.raises(OSError) as e:
        mmsync.Writer.create("bad name!")
    assert isinstance(e.value, mmsync.Error)
    assert e.value.errno == errno.EINVAL
    assert e.value.strerror
    assert issubclass(mmsync.StaleError, mmsync.Error)


@pytest.mark.parametrize("layout", ["compat", "native"])
def test_stale_view_raises(layout, prefix, native):
    """A view whose copy the writer overwrote (grace 0) ends in StaleError:
    a stale read is told apart from a good one."""
    if layout == "compat":
        w = mmsync.Writer(prefix)
        w.write(b"one")
        r = mmsync.Reader(prefix)
    else:
        w, sock = native
        w.write(b"one")
        r = mmsync.Reader.connect(sock)
    with pytest.raises(mmsync.StaleError):
        with r.read() as v:
            assert bytes(v) == b"one"
            w.write(b"two", grace=0)
            w.write(b"three", grace=0)  # the view's copy: reset, or evicted
    with r.read() as v:  # the next read is good
        assert bytes(v) == b"three"
    r.close()
    if layout == "compat":
        w.close()
