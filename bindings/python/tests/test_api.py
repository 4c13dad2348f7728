# SPDX-License-Identifier: MIT
"""The package's surface: every public class and method documented, paths
as os.PathLike, and the examples of the README running as they are."""
import inspect
import os
import pathlib
import subprocess
import sys

import mmsync

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_everything_documented():
    missing = []
    for name in mmsync.__all__:
        obj = getattr(mmsync, name)
        if not inspect.isclass(obj):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        for base in obj.__mro__[:-1]:  # the class, its mixins and its C type
            if not base.__module__.startswith("mmsync"):
                continue
            for attr, value in vars(base).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                if not (getattr(value, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{attr} ({base.__name__})")
    assert missing == []
    assert mmsync.__doc__ and mmsync.WriteInfo.__doc__


def test_pathlike(prefix):
    p = pathlib.Path(prefix)
    with mmsync.Writer(p) as w, mmsync.Reader(p) as r:
        w.write(b"path")
        with r.read() as v:
            assert bytes(v) == b"path"


def test_examples(prefix):
    env = dict(os.environ)
    reader = subprocess.Popen([sys.executable, str(EXAMPLES / "reader.py"), prefix, "2"],
                              stdout=subprocess.PIPE, text=True, env=env)
    # four versions a second apart for a reader of two: it may start late
    writer = subprocess.run([sys.executable, str(EXAMPLES / "writer.py"), prefix, "4"],
                            env=env, timeout=60)
    out, _ = reader.communicate(timeout=60)
    assert writer.returncode == 0 and reader.returncode == 0
    lines = out.splitlines()
    assert len(lines) == 2 and all(len(line.split()[1]) == 8 for line in lines)
