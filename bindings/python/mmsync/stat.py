# SPDX-License-Identifier: MIT
"""The figures of a segment and of a write, as dataclasses."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Stat:
    """A segment's figures (struct mmsync_stat): Reader.stat(), Writer.stat().

    The native-only fields are 0 (or empty) on the compat layout.
    """

    version: int
    """The version word published, 0 before the first write."""
    idx: int
    """The copy the version word points at (0 or 1)."""
    size: int
    """The payload's size in bytes."""
    checksum: int
    """The low 24 bits of the payload's hash, as the version word holds them."""
    readers: tuple
    """Readers holding a view of copy 0 and of copy 1."""
    native: bool
    """True for the native layout."""
    seq: int
    """Native: the write sequence number."""
    generation: int
    """Native: the generation of the copies."""
    capacity: int
    """Native: bytes per copy."""
    max_readers: int
    """Native: reader slots."""
    live_slots: int
    """Native: readers connected or attached."""
    evictions: int
    """Native: readers evicted after the grace period."""
    reclaimed: int
    """Native: slots of readers that died taken back."""
    last_publish_ns: int
    """Native: CLOCK_REALTIME of the last publish, to a few ms."""
    name: str
    """Native: the segment's name."""
    writer_pid: int
    """Native: the writer's pid, 0 once it closed."""
    membarriers: int
    """Native: membarriers issued for fenceless readers."""
    membarrier_failures: int
    """Native: membarriers refused."""
    futex_wakes: int
    """Native: publishes that woke waiting readers."""
    wake_msgs: int
    """Native: wake messages sent to readers' descriptors."""
    disconnects: int
    """Native: slots of readers that closed taken back."""


# What a write did: a named tuple made by the extension at each write
# (written, reset, version, seq, evicted), cheaper than a dataclass.
from ._ext import WriteInfo  # noqa: E402
