#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python binding against what a Python program would use otherwise, in
one run: one read (a with block that touches a byte) and one 36-byte write,
with mmsync (compat and native), LMDB (python3-lmdb: a read transaction with
buffers=True, zero-copy; a write transaction) and multiprocessing's
shared_memory guarded by a multiprocessing.Lock; then a 64 MiB float64 table
read as a numpy array (obtained and summed).

    tools/bench/python_bench.py [--quick] [--json FILE]

Each figure is the median of ROUNDS rounds of N operations (ns per
operation); ratios are taken within this run. Run it with the binding on
PYTHONPATH (build/bindings/python) or installed. Pin it to one CPU
(taskset -c 1) for steadier figures.
"""
import argparse
import json
import multiprocessing
import multiprocessing.shared_memory
import os
import shutil
import statistics
import tempfile
import time

import lmdb
import numpy

import mmsync

PAYLOAD = b"x" * 36


def per_op(fn, n, rounds):
    """Median ns per call of fn() over `rounds` rounds of n calls (fn runs
    the n calls itself, so that the loop is the contender's own)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn(n)
        times.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(times)


def mmsync_read(reader):
    def run(n):
        read = reader.read
        for _ in range(n):
            with read() as view:
                view[0]
    return run


def mmsync_write_api(writer):
    def run(n):
        write = writer.write
        for _ in range(n):
            write(PAYLOAD)
    return run


def lmdb_read(env):
    def run(n):
        begin = env.begin
        for _ in range(n):
            with begin(buffers=True) as txn:
                txn.get(b"k")[0]
    return run


def lmdb_write(env):
    def run(n):
        begin = env.begin
        for _ in range(n):
            with begin(write=True) as txn:
                txn.put(b"k", PAYLOAD)
    return run


def shm_read(shm, lock):
    def run(n):
        buf = shm.buf
        for _ in range(n):
            with lock:
                buf[0]
    return run


def shm_write(shm, lock):
    def run(n):
        buf = shm.buf
        for _ in range(n):
            with lock:
                buf[:36] = PAYLOAD
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few rounds, to check it runs")
    ap.add_argument("--json", help="write the figures to this file too")
    args = ap.parse_args()
    n, rounds, big_rounds = (2000, 3, 2) if args.quick else (200000, 9, 7)

    tmp = tempfile.mkdtemp(dir="/dev/shm", prefix="mmsync-pybench-")
    name = f"pybench-{os.getpid()}"
    fig = {}
    try:
        cw = mmsync.Writer(os.path.join(tmp, "feed"), wake_waiters=False)
        cw.write(PAYLOAD)
        cr = mmsync.Reader(os.path.join(tmp, "feed"))
        nw = mmsync.Writer.create(name, capacity=128 << 20, bpf=False)
        nw.listen("@" + name)
        nw.write(PAYLOAD)
        nr = mmsync.Reader.connect("@" + name)
        env = lmdb.open(os.path.join(tmp, "lmdb"), map_size=1 << 30, sync=False,
                        metasync=False, lock=True)
        with env.begin(write=True) as txn:
            txn.put(b"k", PAYLOAD)
        shm = multiprocessing.shared_memory.SharedMemory(create=True, size=64 << 20)
        lock = multiprocessing.Lock()

        fig["read_mmsync_native_ns"] = per_op(mmsync_read(nr), n, rounds)
        fig["read_mmsync_compat_ns"] = per_op(mmsync_read(cr), n, rounds)
        fig["read_lmdb_ns"] = per_op(lmdb_read(env), n, rounds)
        fig["read_shm_lock_ns"] = per_op(shm_read(shm, lock), n, rounds)
        fig["write_mmsync_native_ns"] = per_op(mmsync_write_api(nw), n // 4, rounds)
        fig["write_mmsync_compat_ns"] = per_op(mmsync_write_api(cw), n // 4, rounds)
        fig["write_lmdb_ns"] = per_op(lmdb_write(env), n // 4, rounds)
        fig["write_shm_lock_ns"] = per_op(shm_write(shm, lock), n // 4, rounds)
        # The native write above pays a membarrier for its fenceless reader
        # (the default where the kernel allows it); with a fenced one, none.
        nr.close()
        nr = mmsync.Reader.connect("@" + name, fenced=True)
        fig["write_mmsync_native_fenced_reader_ns"] = per_op(mmsync_write_api(nw), n // 4, rounds)

        # 64 MiB of float64: obtain the array and sum it
        table = numpy.arange(8 << 20, dtype=numpy.float64)
        nw.write(table)
        with env.begin(write=True) as txn:
            txn.put(b"t", table.tobytes())
        shm.buf[:table.nbytes] = table.tobytes()
        want = float(table.sum())

        def big_mmsync(k):
            for _ in range(k):
                with nr.read() as view:
                    assert float(numpy.frombuffer(view, numpy.float64).sum()) == want

        def big_lmdb(k):
            for _ in range(k):
                with env.begin(buffers=True) as txn:
                    assert float(numpy.frombuffer(txn.get(b"t"), numpy.float64).sum()) == want

        def big_shm(k):
            for _ in range(k):
                with lock:
                    a = numpy.frombuffer(shm.buf, numpy.float64, count=8 << 20)
                    assert float(a.sum()) == want
                    del a

        def big_copy(k):  # what a program without zero-copy pays: bytes, then the array
            for _ in range(k):
                with nr.read() as view:
                    data = bytes(view)
                assert float(numpy.frombuffer(data, numpy.float64).sum()) == want

        fig["table64_mmsync_native_ms"] = per_op(big_mmsync, 3, big_rounds) / 1e6
        fig["table64_lmdb_ms"] = per_op(big_lmdb, 3, big_rounds) / 1e6
        fig["table64_shm_lock_ms"] = per_op(big_shm, 3, big_rounds) / 1e6
        fig["table64_copy_then_array_ms"] = per_op(big_copy, 3, big_rounds) / 1e6

        fig["read_ratio_native_to_lmdb"] = fig["read_mmsync_native_ns"] / fig["read_lmdb_ns"]
        fig["read_ratio_compat_to_lmdb"] = fig["read_mmsync_compat_ns"] / fig["read_lmdb_ns"]

        nr.close()
        cr.close()
        nw.close()
        cw.close()
        env.close()
        shm.close()
        shm.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("one read (with block, touch a byte)", "read_mmsync_native_ns", "read_mmsync_compat_ns",
         "read_lmdb_ns", "read_shm_lock_ns", "ns"),
        ("one 36-byte write", "write_mmsync_native_ns", "write_mmsync_compat_ns",
         "write_lmdb_ns", "write_shm_lock_ns", "ns"),
    ]
    print(f"{'':38} {'native':>9} {'compat':>9} {'LMDB':>9} {'shm+Lock':>9}")
    for label, a, b, c, d, unit in rows:
        print(f"{label:38} {fig[a]:9.0f} {fig[b]:9.0f} {fig[c]:9.0f} {fig[d]:9.0f}  {unit}")
    print(f"{'  native, the reader fenced':38} {fig['write_mmsync_native_fenced_reader_ns']:9.0f}")
    print(f"{'64 MiB table as numpy, summed':38} {fig['table64_mmsync_native_ms']:9.1f} "
          f"{'':9} {fig['table64_lmdb_ms']:9.1f} {fig['table64_shm_lock_ms']:9.1f}  ms"
          f"  (copied first: {fig['table64_copy_then_array_ms']:.1f} ms)")
    print(f"read, mmsync / LMDB: native {fig['read_ratio_native_to_lmdb']:.2f}, "
          f"compat {fig['read_ratio_compat_to_lmdb']:.2f} (target <= 0.5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=1)


if __name__ == "__main__":
    main()
