# SPDX-License-Identifier: MIT
"""What Reader and Writer share: figures, the with statement, a repr."""
from .stat import Stat


class Handle:
    """A reader or writer handle: closed by leaving a with block."""

    __slots__ = ()

    def stat(self):
        """The segment's figures, as an mmsync.Stat."""
        return Stat(**self._stat())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else ("native" if self.native else "compat")
        return f"<mmsync.{type(self).__name__} {state}>"
