#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/seed-*.

Each seed is an input in the format the target's head comment gives: a few
valid ones (which get the fuzzer past the checks at once) and a few that
each break one thing. Rerun after changing a format; files named crash-*
(reproducers) are left alone.

    python3 tests/fuzz/make_corpus.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
VECTORS = os.path.join(ROOT, "tests", "vectors", "mmap-sync")

NATIVE_MAGIC = 0x31564E434E59534D  # "MSYNCNV1"
HELLO, GENERATION = 1, 2
EACCES, EUSERS = 13, 87
PAGE = 4096


def native_msg(mtype=HELLO, generation=1, capacity=64 << 10, max_readers=126, slot_index=0,
               nr_fds=4, flags=0, error=0, magic=NATIVE_MAGIC, proto=1, layout=2, name=b"fuzz"):
    """struct native_msg (src/native_layout.h), 120 bytes."""
    return struct.pack("<QIIIiQQIIII64s", magic, proto, layout, mtype, error, generation,
                       capacity, max_readers, flags, slot_index, nr_fds, name)


def native_header(max_readers=4, flags=0, generation=1, capacity=64 << 10, vi=0, li=0,
                  copies=((36 << 1 | 0, 1, 1), (10 << 1 | 1, 2, 1)), populated=(0, 0),
                  magic=NATIVE_MAGIC, layout=2, header_size=320, name=b"fuzz"):
    """struct native_header (src/native_state.h), 320 bytes."""
    h = struct.pack("<QIIIIQQ64s", magic, layout, header_size, max_readers, flags, generation,
                    capacity, name)
    h = h.ljust(128, b"\0")
    h += struct.pack("<II", vi, li)
    for c in copies:
        h += struct.pack("<QQQ", *c)
    h = h.ljust(192, b"\0")
    h += struct.pack("<QQQIIIIQQ", 1, copies[li][0], 0, 0, 0, 0, 0, 0, 0)
    h = h.ljust(256, b"\0")
    h += struct.pack("<QQQ", populated[0], populated[1], 0)
    h = h.ljust(320, b"\0")
    assert len(h) == 320
    return h


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- fuzz_handshake: [ctl] [8 fd specs] [header tweak] [len u16] [msg] [gen message] ----

def handshake(name, msg, nfds=4, answer=0, verify=False, fenced=False, specs=b"\0" * 8, tweak=0,
              gen=None):
    ctl = nfds | answer << 4 | (64 if verify else 0) | (128 if fenced else 0)
    data = bytes([ctl]) + specs.ljust(8, b"\0") + bytes([tweak | (128 if gen else 0)])
    data += struct.pack("<H", len(msg)) + msg
    if gen:
        gmsg, gnfds, gspecs = gen
        data += bytes([gnfds]) + gspecs.ljust(2, b"\0") + struct.pack("<H", len(gmsg)) + gmsg
    write("fuzz_handshake", name, data)


def handshake_seeds():
    ok = native_msg()
    handshake("hello", ok)
    handshake("hello-fenced", ok, fenced=True)
    handshake("hello-checksum", ok, verify=True, tweak=64)
    handshake("hello-checksum-absent", ok, verify=True)
    handshake("generation", ok,
              gen=(native_msg(GENERATION, generation=2, capacity=128 << 10, nr_fds=2), 2, b""))
    handshake("generation-missing-fds", ok,
              gen=(native_msg(GENERATION, generation=2, capacity=128 << 10, nr_fds=2), 0, b""))
    handshake("refused", native_msg(error=EACCES, nr_fds=0), nfds=0)
    handshake("full", native_msg(error=EUSERS, nr_fds=0), nfds=0)
    handshake("bad-magic", native_msg(magic=0), nfds=4)
    handshake("old-proto", native_msg(proto=2))
    handshake("short", ok[:20])
    handshake("long", ok + b"\0" * 16)
    handshake("slot-index", native_msg(slot_index=126))
    handshake("capacity-huge", native_msg(capacity=1 << 39))
    handshake("unsealed-flag", native_msg(flags=1))
    handshake("copy-wrong-size", ok, specs=bytes([0, 4, 0x14, 0]))
    handshake("copy-read-write", ok, specs=bytes([0, 8, 0, 0]))
    handshake("slot-read-only", ok, specs=bytes([0, 0, 0, 8]))
    handshake("state-unsealed", ok, specs=bytes([5, 0, 0, 0]))
    handshake("pipe-devnull-socket", ok, specs=bytes([6, 7, 0x87, 0]))
    handshake("eight-fds", native_msg(nr_fds=8), nfds=8)
    handshake("three-fds", native_msg(nr_fds=3), nfds=3)
    handshake("header-older", ok, tweak=8)
    handshake("header-newer", ok, tweak=16)
    handshake("header-capacity", ok, tweak=32)
    handshake("header-size", ok, tweak=2)
    handshake("silent", ok, answer=2)
    handshake("hangup", ok, answer=3)


# ---- fuzz_server: [ctl] then messages [len] [fd spec] [bytes] ----

def server(name, ctl, msgs):
    data = bytes([ctl])
    for body, spec in msgs:
        data += bytes([len(body), spec]) + body
    write("fuzz_server", name, data)


def server_seeds():
    server("idle", 0, [])
    server("idle-drain", 4, [])
    server("hello", 0, [(b"hello", 0)])
    server("zero-length", 0, [(b"", 0)])
    server("fds", 0, [(b"x", 1), (b"yy", 2)])
    server("eight-pipes", 4, [(b"p", 5)])
    server("self-socket", 0, [(b"s", 3)])
    server("hangup-early", 1, [(b"bye", 7)])
    server("shutdown", 2, [(b"half", 4)])
    server("long", 0, [(bytes(range(200)), 0), (b"more", 6)])


# ---- fuzz_compat_files: [ctl] [state size?] [state] then per data file
#      [size u24] [content length u16] [content] ----

def compat(name, state, data0=None, data1=None, ctl=0, state_size=None, sizes=(None, None)):
    if data0 is None:
        ctl |= 2
    if data1 is None:
        ctl |= 4
    if state is None:
        ctl |= 1
    out = bytearray()
    if state_size is not None:
        ctl |= 8
        out.append(state_size)
    out = bytearray([ctl]) + out + (state or b"").ljust(state_size if state_size is not None
                                                        else 16, b"\0")
    for d, size in zip((data0, data1), sizes):
        d = d or b""
        out += struct.pack("<I", len(d) if size is None else size)[:3]
        out += struct.pack("<H", len(d)) + d
    write("fuzz_compat_files", name, bytes(out))


def vector(case):
    d = os.path.join(VECTORS, case)
    with open(os.path.join(d, "mmsvec_%s_state" % case), "rb") as f:
        state = f.read()
    with open(os.path.join(d, "mmsvec_%s_data_0" % case), "rb") as f:
        data = f.read()
    return state, data


def state(size, idx=0, checksum=0, readers=(0, 0)):
    return struct.pack("<QII", idx | size << 1 | checksum << 40, *readers)


def compat_seeds():
    for case in ("hello36", "ascii15"):
        s, d = vector(case)
        compat("vector-" + case, s, d)
        compat("vector-%s-short" % case, s, d[:-1])
    compat("nothing-published", state(0), b"", b"")
    compat("no-state", None, b"abc")
    compat("state-15", state(3)[:15], b"abc", state_size=15)
    compat("state-17", state(3) + b"\0", b"abc", state_size=17)
    compat("state-0", b"", b"abc", state_size=0)
    compat("idx1", state(5, idx=1), None, b"hello")
    compat("idx1-missing", state(5, idx=1), b"hello", None)
    compat("sparse", state(4000), b"head", sizes=(8192, None))
    compat("empty-payload", state(0, idx=1, checksum=0x123456), b"", b"")
    compat("readers-wrap", state(3, readers=(0xFFFFFFFF, 7)), b"abc")
    compat("huge-size", state((1 << 39) - 1), b"abc")


# ---- fuzz_native_header: [ctl] [copy0 u32] [copy1 u32] [table u32] [header]
#      then per read [offset u16] [length-1] [bytes] ----

def native(name, ctl, header, sizes=(64 << 10, 64 << 10, 256), changes=()):
    data = bytes([ctl]) + struct.pack("<III", *sizes) + header
    for off, value in changes:
        data += struct.pack("<HB", off, len(value) - 1) + value
    write("fuzz_native_header", name, data)


# ctl bits: 1 verify, 2 fenced, 4 fix magic, 8 fix header_size, 16 fix
# max_readers, 32 copies of the header's capacity, 64 exact table
EXACT = 32 | 64
LI, COPY1_VERSION, COPY0_GENERATION, POPULATED0 = 132, 160, 152, 256


def native_seeds():
    h = native_header()
    native("valid", EXACT, h)
    native("valid-fenced", EXACT | 2, h)
    native("valid-sizes", 0, h, sizes=(64 << 10, 64 << 10, 4 * 64))
    native("reads-switch", EXACT, h, changes=[(LI, struct.pack("<I", 1)), (LI, b"\0")])
    native("reads-past-capacity", EXACT, h,
           changes=[(LI, struct.pack("<I", 1)),
                    (COPY1_VERSION, struct.pack("<Q", (1 << 39) - 1 << 1 | 1))])
    native("reads-generation", EXACT, h, changes=[(COPY0_GENERATION, struct.pack("<Q", 2))])
    native("reads-populated", EXACT, h, changes=[(POPULATED0, struct.pack("<Q", 1 << 40))])
    native("reads-idx-mismatch", EXACT, h, changes=[(LI, struct.pack("<I", 1)),
                                                   (COPY1_VERSION, struct.pack("<Q", 8 << 1))])
    native("checksum-absent", EXACT | 1, h)
    native("checksum", EXACT | 1, native_header(flags=1))
    native("bad-magic", EXACT, native_header(magic=0))
    native("header-size", EXACT, native_header(header_size=64))
    native("max-readers-0", EXACT, native_header(max_readers=0))
    native("max-readers-4096", EXACT, native_header(max_readers=4096))
    native("max-readers-4097", EXACT, native_header(max_readers=4097))
    native("capacity-0", EXACT, native_header(capacity=0))
    native("copies-stale", 64, h, sizes=(128 << 10, 128 << 10, 0))
    native("copy1-size", 64, h, sizes=(64 << 10, 32 << 10, 0))
    native("table-short", 32, h, sizes=(0, 0, 100))
    native("nothing-published", EXACT, native_header(copies=((0, 0, 1), (0, 0, 1))))
    native("fixups", 4 | 8 | 16 | EXACT, b"\0" * 320)


def main():
    handshake_seeds()
    server_seeds()
    compat_seeds()
    native_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
