#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Prints each version published at PREFIX (default /dev/shm/clock)."""
import sys

import mmsync

with mmsync.Reader(sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/clock") as reader:
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 10):
        reader.wait()                    # sleeps until a new version (GIL released)
        with reader.read() as view:      # zero-copy, read-only
            print(view.version, bytes(view).decode())
