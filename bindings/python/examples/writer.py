#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Publishes the time once a second at PREFIX (default /dev/shm/clock)."""
import sys
import time

import mmsync

with mmsync.Writer(sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/clock") as writer:
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 10):
        writer.write(time.strftime("%H:%M:%S").encode())
        time.sleep(1)
