# SPDX-License-Identifier: MIT
"""The binding against the C side, both ways: the CLI's writes read from
Python, Python's writes read by `mmsync cat` and by a C reader
(python_peer.c, on the public API)."""
import subprocess

import pytest

import mmsync
from conftest import CLI, PEER, payload, payload_seq, unique


def xxh64(data):
    """XXH64, seed 0, as python_peer prints it (xxh64sum: Debian's xxhash)."""
    out = subprocess.run(["xxh64sum", "-"], input=data, capture_output=True, check=True)
    return out.stdout.split()[0].decode()


def test_cli_put_read_from_python(prefix, tmp_path):
    src = tmp_path / "src"
    r = mmsync.Reader(prefix)
    for seq in (1, 2, 3):
        src.write_bytes(payload(seq, 10000 * seq))
        subprocess.run([CLI, "put", prefix, str(src)], check=True)
        with r.read() as v:
            assert v.switched and payload_seq(v) == seq and len(v) == 10000 * seq
            assert v.version == r.stat().version
    # `mmsync put` wakes waiters: a Python wait sees its publish
    src.write_bytes(b"woken")
    p = subprocess.Popen([CLI, "put", prefix, str(src)])
    assert r.wait(10)
    assert p.wait(30) == 0
    with r.read() as v:
        assert bytes(v) == b"woken"
    r.close()


def test_python_write_read_by_cli(prefix):
    with mmsync.Writer(prefix) as w:
        for seq in (1, 2):
            data = payload(seq, 5000)
            info = w.write(data)
            out = subprocess.run([CLI, "cat", prefix], capture_output=True, check=True)
            assert out.stdout == data
            st = subprocess.run([CLI, "stat", prefix, "--json"], capture_output=True, text=True,
                                check=True).stdout
            assert str(info.version) in st


def run_peer(args, count, publish):
    p = subprocess.Popen([PEER] + args + [str(count)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        publish(p)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    return [line.split() for line in out.splitlines()]


def writer_for_peer(layout, prefix):
    """A writer of `layout` and the arguments python_peer reads it with."""
    if layout == "compat":
        return mmsync.Writer(prefix), [prefix]
    name = unique("peer")
    w = mmsync.Writer.create(name, capacity=64 << 10, bpf=False)
    w.listen("@" + name)
    return w, ["--socket", "@" + name]


@pytest.mark.parametrize("layout", ["compat", "native"])
def test_python_write_read_by_c_reader(layout, prefix):
    """The C reader, started first, waits (mmsync_wait) and reads what Python
    publishes: the version word and hash match."""
    w, args = writer_for_peer(layout, prefix)
    data = payload(5, 100 << 10)  # native: above the capacity, a new generation
    infos = []
    lines = run_peer(args, 1, lambda p: infos.append(w.write(data)))
    assert lines == [[str(infos[0].seq), str(infos[0].version), str(len(data)), xxh64(data)]]
    w.close()


@pytest.mark.parametrize("layout", ["compat", "native"])
def test_c_reader_follows_python_writes(layout, prefix):
    """Python publishes versions while the C reader reads: every line it
    prints names a version Python published, with that version's hash."""
    w, args = writer_for_peer(layout, prefix)
    published = {}

    def publish(p):
        seq = 0
        while p.poll() is None and seq < 100000:
            seq += 1
            size = 1000 + seq % 7 * 1000 if seq % 50 else 150 << 10
            data = payload(seq, size)
            info = w.write(data)
            published[info.version if layout == "compat" else info.seq] = (info.version, data)

    lines = run_peer(args, 20, publish)
    assert len(lines) == 20
    for seq, version, size, h in lines:
        key = int(version) if layout == "compat" else int(seq)
        v, data = published[key]
        assert int(version) == v and int(size) == len(data)
        assert h == xxh64(data)
    w.close()
