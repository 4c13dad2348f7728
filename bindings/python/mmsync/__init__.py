# SPDX-License-Identifier: MIT
"""mmsync: one writer publishes a blob of bytes, many readers read the latest
version from shared memory, without a copy, a lock or a half-written version.

A binding of libmmsync. Readers::

    import mmsync
    with mmsync.Reader("/dev/shm/feed") as reader:        # or Reader.connect(socket)
        reader.wait(timeout=1.0)
        with reader.read() as view:                      # zero-copy, read-only
            print(view.version, bytes(view[:16]))

Writers::

    with mmsync.Writer("/dev/shm/feed") as writer:        # or Writer.create(name)
        writer.write(b"hello")

See Reader, View, Writer, Stat, Error and StaleError.
"""
from ._ext import MAX_PAYLOAD, View
from .exception import Error, StaleError
from .reader import Reader
from .stat import Stat, WriteInfo
from .writer import Writer

__all__ = ["Reader", "View", "Writer", "Stat", "WriteInfo", "Error", "StaleError", "MAX_PAYLOAD"]
