# SPDX-License-Identifier: MIT
"""Writers of both layouts: write, write_from_file, build, listen, figures."""
import errno
import os
import pwd
import subprocess
import sys

import numpy
import pytest

import mmsync
from conftest import payload, payload_seq, unique


def read_all(r):
    with r.read() as v:
        return bytes(v)


@pytest.fixture(params=["compat", "native"])
def pair(request, prefix):
    """(writer, reader) of either layout."""
    if request.param == "compat":
        w = mmsync.Writer(prefix)
        r = mmsync.Reader(prefix)
    else:
        name = unique("pair")
        w = mmsync.Writer.create(name, capacity=64 << 10, bpf=False)
        w.listen("@" + name)
        w.write(b"")
        r = mmsync.Reader.connect("@" + name)
    yield w, r
    r.close()
    w.close()


def test_write_bytes_like(pair):
    w, r = pair
    for data in (b"bytes", bytearray(b"bytearray"), memoryview(b"xxmemoryview")[2:],
                 numpy.arange(4, dtype=numpy.uint8), b""):
        info = w.write(data)
        assert info.written == len(bytes(data))
        assert read_all(r) == bytes(data)
    with pytest.raises(TypeError):
        w.write("a str is not bytes")
    with pytest.raises(ValueError):
        w.write(b"x", grace=-1)
    # a payload larger than the copies: a native writer makes a new generation
    big = payload(7, 256 << 10)
    w.write(big)
    assert read_all(r) == big
    if w.native:
        assert w.stat().generation == 2 and r.stat().generation == 2


def test_write_from_file(pair, tmp_path):
    w, r = pair
    f = tmp_path / "src"
    data = payload(3, 100000)
    f.write_bytes(data)
    with open(f, "rb") as fo:
        assert w.write_from_file(fo).written == len(data)
    assert read_all(r) == data
    fd = os.open(f, os.O_RDONLY)
    w.write_from_file(fd, 16, offset=8)
    assert read_all(r) == data[8:24]
    os.close(fd)
    rd, wr = os.pipe()
    os.write(wr, b"from a pipe")
    with pytest.raises(ValueError):
        w.write_from_file(rd)  # a pipe has no length
    w.write_from_file(rd, 11)
    assert read_all(r) == b"from a pipe"
    os.close(wr)
    with pytest.raises(mmsync.Error) as e:
        w.write_from_file(rd, 5)  # ended before 5 bytes: nothing published
    assert e.value.errno == errno.ENODATA
    assert read_all(r) == b"from a pipe"
    os.close(rd)


def test_build(pair):
    w, r = pair
    b = w.build(1000)
    with b as buf:
        assert isinstance(buf, memoryview) and not buf.readonly and len(buf) == 1000
        buf[:5] = b"hello"
        numpy.frombuffer(buf, numpy.uint8)[5:7] = (33, 33)  # a temporary array
        b.length = 7
    assert read_all(r) == b"hello!!"
    assert b.info.written == 7
    with pytest.raises(ValueError):
        buf[0]  # released at the block's end
    # an exception in the block publishes nothing
    with pytest.raises(ZeroDivisionError):
        with w.build(10) as buf:
            buf[:3] = b"bad"
            1 / 0
    assert read_all(r) == b"hello!!"
    with pytest.raises(ValueError):
        with w.build(10) as buf:
            w.build(10).length = 11
    # a write while building: refused
    b = w.build(4)
    with b as buf:
        with pytest.raises(RuntimeError):
            w.write(b"no")
        buf[:] = b"done"
    assert read_all(r) == b"done"


def test_build_array_outliving_block(pair):
    """An array into the copy that outlives the block: nothing is published,
    BufferError, and the writer refuses writes (and defers a close) until the
    array is gone: it still points into the copy."""
    w, r = pair
    w.write(b"before")
    with pytest.raises(BufferError):
        with w.build(16) as buf:
            arr = numpy.frombuffer(buf, numpy.uint8)
            arr[:] = 1
    assert read_all(r) == b"before"
    with pytest.raises(BufferError):
        w.write(b"blocked")
    arr[:] = 2  # still mapped: no crash
    del arr
    w.write(b"after")
    assert read_all(r) == b"after"


def test_close_deferred_while_pinned(prefix):
    code = f"""
import numpy, mmsync
w = mmsync.Writer({prefix!r})
try:
    with w.build(4096) as buf:
        arr = numpy.frombuffer(buf, numpy.uint8)
except BufferError:
    pass
w.close()           # deferred: arr points into a copy
assert w.closed
arr[:] = 7          # must not crash
assert int(arr.sum()) == 7 * 4096
del arr             # the close happens here
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_listen_allow_uids(prefix):
    name = unique("allow")
    w = mmsync.Writer.create(name, bpf=False)
    nobody = pwd.getpwnam("nobody").pw_uid
    sock = os.path.join(os.path.dirname(prefix), "sock")
    os.chmod(os.path.dirname(prefix), 0o755)
    w.listen(sock, allow_uids=[nobody], mode=0o666)
    assert os.stat(sock).st_mode & 0o777 == 0o666
    w.write(b"for nobody only")
    # not in the list: refused, even root
    with pytest.raises(mmsync.Error) as e:
        mmsync.Reader.connect(sock)
    assert e.value.errno == errno.ECONNREFUSED
    code = f"""
import mmsync
with mmsync.Reader.connect({sock!r}) as r, r.read() as v:
    print(bytes(v).decode())
"""
    out = subprocess.run([sys.executable, "-c", code], user=nobody, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "for nobody only"
    with pytest.raises(mmsync.Error) as e:
        w.listen("@" + name)
    assert e.value.errno == errno.EBUSY
    w2 = mmsync.Writer.create(unique("allow"), bpf=False)
    with pytest.raises(OverflowError):
        w2.listen("@x", allow_uids=[-1])
    with pytest.raises(TypeError):
        w2.listen("@x", allow_uids=5)
    w2.close()
    w.close()
    assert not os.path.exists(sock)


def test_dispatch_without_service(prefix):
    name = unique("dispatch")
    w = mmsync.Writer.create(name, bpf=False)
    w.listen("@" + name, serve=False)
    w.write(b"dispatched")
    fd = w.fileno()
    code = f"""
import mmsync
r = mmsync.Reader.connect({"@" + name!r}, timeout=20)
with r.read() as v:
    print(bytes(v).decode())
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    import select
    while p.poll() is None:
        if select.select([fd], [], [], 0.05)[0]:
            w.dispatch()
    assert p.stdout.read().strip() == "dispatched"
    assert p.returncode == 0
    w.close()


def test_export_fds(native):
    w, _ = native
    fds = w.export_fds()
    assert len(fds) == 4 and all(fd > 2 for fd in fds)
    for fd in fds:
        os.close(fd)


def test_writer_errors(prefix):
    with pytest.raises(mmsync.Error) as e:
        mmsync.Writer(prefix + "/no/such/dir/x")
    assert e.value.errno == errno.ENOENT
    w = mmsync.Writer(prefix, single_writer=True)
    with pytest.raises(mmsync.Error) as e:
        mmsync.Writer(prefix, single_writer=True)
    assert e.value.errno == errno.EBUSY
    w.close()
    assert w.closed
    with pytest.raises(ValueError):
        w.write(b"closed")
    with mmsync.Writer(prefix) as w2:
        w2.write(b"x")
    assert w2.closed
