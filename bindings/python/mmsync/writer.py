# SPDX-License-Identifier: MIT
"""mmsync.Writer: publishes versions for readers."""
import os
import stat as _stat

from . import _ext
from .handle import Handle

GRACE = 1.0
"""The default grace period, in seconds: how long a write waits for readers
still on the copy it is about to overwrite."""


_GRACE_NS = int(GRACE * 1e9)


def _grace_ns(grace):
    if grace is None:
        return _GRACE_NS
    if grace < 0:
        raise ValueError("grace must be 0 or more seconds")
    return int(grace * 1e9)


class Writer(Handle, _ext.Writer):
    """The writer of a segment: one per segment.

    ``Writer(prefix)`` writes the compat layout (files at ``prefix``, read by
    mmsync's readers and the Rust crate mmap-sync's); ``Writer.create(name)``
    makes a native segment, served to readers with ``listen()``.

        writer = mmsync.Writer.create("feed")
        writer.listen("/run/feed.sock")       # served by a thread of the library's
        writer.write(b"hello")

    Writes release the GIL (they may wait for readers, up to twice
    ``grace`` seconds). A writer is used by one thread at a time; it is a
    context manager that closes it.
    """

    def __init__(self, prefix, *, single_writer=False, no_reset=False, wake_waiters=True,
                 trust_uid=0):
        """Opens (creating the files if need be) the compat segment at ``prefix``.

        ``single_writer`` holds a lock that makes a second such writer fail
        (EBUSY); ``no_reset`` makes a write time out (ETIMEDOUT) rather than
        overwrite a reader held past the grace period; ``wake_waiters``
        wakes readers sleeping in Reader.wait() at once (a system call a
        write). ``trust_uid``: a uid besides this process's and root whose
        files found in place are used.
        """
        flags = ((_ext.SINGLE_WRITER if single_writer else 0) |
                 (_ext.NO_RESET if no_reset else 0) |
                 (_ext.WAKE_WAITERS if wake_waiters else 0))
        super().__init__(os.fsdecode(prefix), False, flags, trust_uid)

    @classmethod
    def create(cls, name, *, capacity=0, max_readers=0, hugetlb=False, checksum=False,
               bpf=None, keep_pins=False, hugetlbfs_dir=None, chunk_size=0, queue_depth=0):
        """Creates the native segment ``name`` (1 to 63 of ``[A-Za-z0-9_-]``).

        ``capacity``: bytes per copy (0: 64 MiB; a larger write makes larger
        copies); ``max_readers`` (0: 126); ``hugetlb`` puts the copies in
        huge pages; ``checksum`` hashes each payload into its version word;
        ``bpf``: None uses BPF pins when it can, False never, True fails
        without; ``keep_pins`` leaves them at close. ``chunk_size`` and
        ``queue_depth`` tune write_from_file().
        """
        flags = ((_ext.HUGETLB if hugetlb else 0) | (_ext.CHECKSUM if checksum else 0) |
                 (_ext.BPF_OFF if bpf is False else 0) |
                 (_ext.BPF_REQUIRE if bpf is True else 0) |
                 (_ext.KEEP_PINS if keep_pins else 0))
        self = cls.__new__(cls)
        _ext.Writer.__init__(self, name, True, flags, 0, capacity, max_readers,
                             None if hugetlbfs_dir is None else os.fsdecode(hugetlbfs_dir),
                             chunk_size, queue_depth)
        return self

    def write(self, data, *, grace=None):
        """Publishes ``data`` (any bytes-like object) as the new version.

        Returns an mmsync.WriteInfo. Raises mmsync.Error (ETIMEDOUT with
        no_reset, ENOSPC, ...); on error the published version is unchanged.
        """
        return self._write(data, _grace_ns(grace))

    def write_from_file(self, file, length=None, *, offset=None, grace=None):
        """Publishes ``length`` bytes read from ``file`` (a file object or a descriptor).

        Read straight into the copy (io_uring on the native layout), no
        bounce buffer. For a regular file, ``offset`` defaults to 0 and
        ``length`` to the rest of the file; for a pipe or socket, reading
        starts at the current position and ``length`` is needed.
        """
        fd = file if isinstance(file, int) else file.fileno()
        regular = _stat.S_ISREG(os.fstat(fd).st_mode)
        if offset is None:
            offset = 0 if regular else -1
        if length is None:
            if not regular:
                raise ValueError("length is needed for a file that is not a regular file")
            length = os.fstat(fd).st_size - offset
        return self._write_from_fd(fd, offset, length, _grace_ns(grace))

    def build(self, length, *, grace=None):
        """The next version, built in place: a with block over a writable memoryview.

            b = writer.build(1024)
            with b as buf:
                n = fill(buf)
                b.length = n           # publish fewer bytes than the buffer has

        Entering waits for readers to leave the copy (no GIL); leaving
        publishes ``length`` bytes, or nothing if the block raised. Nothing
        made from ``buf`` may outlive the block (it would write into the
        published version): if something does, nothing is published and
        BufferError is raised. ``b.info`` is the write's WriteInfo after.
        """
        return _Build(self._build(length, _grace_ns(grace)))

    def listen(self, path=None, *, allow_uids=(), allow_gids=(), mode=0, serve=True):
        """Serves the native segment to readers on a Unix socket.

        ``path``: a socket path, ``"@name"`` for an abstract socket, None for
        the socket systemd passed (LISTEN_FDS). Peers whose uid is in
        ``allow_uids`` or gid in ``allow_gids`` may connect (both empty: this
        process's uid and root). ``mode``: the socket file's mode (0:
        0660). With ``serve`` (the default) a thread of the library's own
        serves readers; with ``serve=False`` call dispatch() when fileno()
        polls readable.
        """
        self._listen(None if path is None else os.fsdecode(path), list(allow_uids),
                     list(allow_gids), mode, serve)


class _Build:
    """Writer.build()'s context manager (see there)."""

    __slots__ = ("_b",)

    def __init__(self, b):
        self._b = b

    def __enter__(self):
        return self._b.__enter__()

    def __exit__(self, *exc):
        return self._b.__exit__(*exc)

    @property
    def length(self):
        """Bytes the block's end publishes (the buffer's length unless set lower)."""
        return self._b.length

    @length.setter
    def length(self, n):
        self._b.length = n

    @property
    def info(self):
        """The write's mmsync.WriteInfo once published, else None."""
        return self._b._info
