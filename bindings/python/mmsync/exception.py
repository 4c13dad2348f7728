# SPDX-License-Identifier: MIT
"""The exceptions the binding raises.

Error is an OSError: ``e.errno`` is the library's errno (``errno.ENOENT``,
``errno.ETIMEDOUT``, ...) and ``e.strerror`` mmsync_strerror()'s text.
StaleError, a subclass, is the one a read must act on: the view was held past
the writer's grace period and its bytes may have been overwritten while they
were read, so what was read must be discarded.

Misuse raises Python's own: ValueError on a closed handle, RuntimeError when
another thread has the handle, BufferError for buffers that outlive a
build() block.
"""
from ._ext import Error, StaleError

__all__ = ["Error", "StaleError"]
