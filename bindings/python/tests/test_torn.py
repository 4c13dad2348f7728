# SPDX-License-Identifier: MIT
"""Readers in other processes (multiprocessing) read flat out while Python
publishes self-checking payloads of changing sizes: no read is torn, none
goes backwards, on either layout; readers SIGKILLed at random points cost
the writer nothing (its writes go on, the slots come back)."""
import multiprocessing
import os
import random
import signal
import time

import pytest

import mmsync
from conftest import payload, payload_seq, unique

WRITES = 3000
VICTIMS = 6


def reader_proc(target, native, ready, stop, results):
    """Reads until told to stop; reports (reads, torn, backwards, stale, newest)."""
    r = mmsync.Reader.connect(target) if native else mmsync.Reader(target)
    reads = torn = backwards = stale = 0
    last = 0
    ready.set()
    while not stop.is_set():
        try:
            with r.read() as v:
                seq = payload_seq(v)
        except mmsync.StaleError:
            stale += 1   # held past the grace period: discarded, as it must be
            continue
        except mmsync.Error:
            continue     # nothing published yet
        reads += 1
        if seq is None:
            torn += 1
        elif seq < last:
            backwards += 1
        else:
            last = seq
    results.put((reads, torn, backwards, stale, last))
    r.close()


def test_torn_payload_detected():
    whole = payload(7, 8192)
    assert payload_seq(whole) == 7
    assert payload_seq(whole[:4096] + payload(8, 8192)[4096:]) is None
    assert payload_seq(payload(8, 8192)[:8] + whole[8:]) is None


@pytest.mark.parametrize("layout", ["compat", "native"])
def test_no_torn_reads(layout, prefix):
    ctx = multiprocessing.get_context("spawn")
    if layout == "compat":
        w = mmsync.Writer(prefix)
        target = prefix
    else:
        name = unique("torn")
        w = mmsync.Writer.create(name, capacity=1 << 20, bpf=False)
        target = "@" + name
        w.listen(target)
    w.write(payload(1, 4096))
    stop, results = ctx.Event(), ctx.Queue()
    procs = []
    for _ in range(3):
        ready = ctx.Event()
        p = ctx.Process(target=reader_proc, args=(target, layout == "native", ready, stop, results))
        p.start()
        procs.append((p, ready))
    try:
        for p, ready in procs:
            assert ready.wait(60), "a reader did not start"
        # more readers, one at a time, each SIGKILLed a random number of
        # writes after it has begun reading
        killed, victim, kill_at = 0, None, None
        rng = random.Random(1)
        deadline = time.monotonic() + 120
        seq = 1
        while seq < WRITES or killed < VICTIMS:
            assert time.monotonic() < deadline, f"{killed} readers killed in 120 s"
            assert victim is None or victim.exitcode is None, "a reader failed"
            seq += 1
            w.write(payload(seq, 8 * rng.randrange(1, 8192)), grace=0.5)
            if victim is None and killed < VICTIMS:
                # kept here: start() drops the process's own references to
                # its arguments, and a spawned child unpickles them later
                victim_ready, victim_stop, victim_results = ctx.Event(), ctx.Event(), ctx.Queue()
                victim = ctx.Process(target=reader_proc,
                                     args=(target, layout == "native", victim_ready, victim_stop,
                                           victim_results))
                victim.start()
                kill_at = None
            elif victim is not None and kill_at is None and victim_ready.is_set():
                kill_at = seq + rng.randrange(1, 200)
            elif victim is not None and kill_at is not None and seq >= kill_at:
                os.kill(victim.pid, signal.SIGKILL)
                victim.join(10)
                killed += 1
                victim = None
        if victim is not None:
            victim.kill()
            victim.join(10)
        seq += 1
        w.write(payload(seq, 4096))
        time.sleep(0.2)
        stop.set()
        got = [results.get(timeout=60) for _ in procs]
    finally:
        stop.set()
        for p, _ in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    for reads, torn, backwards, stale, last in got:
        assert torn == 0 and backwards == 0
        assert reads > 0 and last == seq
    if layout == "native":
        # the killed readers' slots came back: only the writer's figures remain
        deadline = time.monotonic() + 10
        while w.stat().live_slots and time.monotonic() < deadline:
            w.write(payload(seq, 4096))
            time.sleep(0.05)
        st = w.stat()
        assert st.live_slots == 0
        # the killed readers died, the others closed: counted apart
        assert st.reclaimed >= VICTIMS and st.disconnects >= len(procs)
    else:
        w.write(payload(seq + 1, 4096), grace=0.1)  # a killed reader's count is reset
        assert w.write(payload(seq + 2, 4096), grace=0.1).written == 4096
    w.close()
