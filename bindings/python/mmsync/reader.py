# SPDX-License-Identifier: MIT
"""mmsync.Reader: reads the latest version, without a copy."""
import os

from . import _ext
from .handle import Handle


def _flags(verify_checksum=False, fenced=False, fenceless=False, trust_unsealed=False,
           any_writer=False):
    return ((_ext.VERIFY_CHECKSUM if verify_checksum else 0) |
            (_ext.FENCED if fenced else 0) | (_ext.FENCELESS if fenceless else 0) |
            (_ext.TRUST_UNSEALED if trust_unsealed else 0) |
            (_ext.ANY_WRITER if any_writer else 0))


class Reader(Handle, _ext.Reader):
    """A reader of a segment.

    ``Reader(prefix)`` reads the compat layout (the files PREFIX_state,
    PREFIX_data_0, PREFIX_data_1, shared with the Rust crate mmap-sync);
    ``Reader.connect(path)`` reads a native segment from its writer's socket.
    Each read is a with block::

        with reader.read() as view:      # a read-only buffer, no copy
            table = numpy.frombuffer(view, numpy.float32)
            total = table.sum()

    Leaving the block ends the read; it raises mmsync.StaleError when the
    writer overwrote the view while it was held (past its grace period):
    discard what was computed from it. A reader is used by one thread at a
    time (give each thread its own: they are cheap); other threads' calls
    raise RuntimeError, never crash. Readers are context managers: leaving
    the with block closes them.
    """

    def __init__(self, prefix, *, verify_checksum=False, trust_uid=0):
        """Opens a reader of the compat-layout segment at ``prefix``.

        The files need not exist yet: reads raise mmsync.Error (ENOENT)
        until they do. ``verify_checksum`` hashes each payload against its
        version word (EBADMSG on a mismatch). ``trust_uid`` is a uid besides
        this process's and root whose files are used.
        """
        super().__init__(os.fsdecode(prefix), False, _flags(verify_checksum), 0, trust_uid)

    @classmethod
    def connect(cls, path, *, timeout=5.0, verify_checksum=False, fenced=False, fenceless=False,
                trust_unsealed=False, any_writer=False, trust_uid=0):
        """Connects to a native writer's socket (``"@name"`` for an abstract one).

        Waits up to ``timeout`` seconds for the writer's handshake, without
        the GIL. ``fenced``/``fenceless`` force how reads order themselves;
        ``trust_unsealed`` accepts hugetlbfs copies; ``any_writer`` reads
        from a writer of any uid (where the socket's path vouches for it);
        ``trust_uid`` is a writer's uid to trust besides this process's and
        root. Raises mmsync.Error: ECONNREFUSED (no writer), EPERM (an
        untrusted writer), ETIMEDOUT, ...
        """
        self = cls.__new__(cls)
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be a number of seconds above 0")
        _ext.Reader.__init__(self, os.fsdecode(path), True,
                             _flags(verify_checksum, fenced, fenceless, trust_unsealed,
                                    any_writer),
                             max(1, int(timeout * 1000)), trust_uid)
        return self
