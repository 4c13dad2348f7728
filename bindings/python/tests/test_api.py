# SPDX-License-Identifier: MIT
"""The package's surface: every public class and method documented, paths
as os.PathLike, and the examples of the README running as they are."""
import inspect
import os
import pathlib
import subprocess
import sys

import pytest

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


def test_bytes_path_not_utf8(prefix):
    """A file name is bytes: one that is not UTF-8 is a path too (it was a
    UnicodeEncodeError, os.fsdecode's surrogates encoded as UTF-8)."""
    p = os.fsencode(prefix) + b"\xff"
    with mmsync.Writer(p) as w, mmsync.Reader(p) as r:
        w.write(b"bytes")
        with r.read() as v:
            assert bytes(v) == b"bytes"
    assert os.path.exists(p + b"_state")
    name = os.path.join(os.path.dirname(os.fsencode(prefix)), b"sock\xfe")
    with mmsync.Writer.create(unique_name(), bpf=False) as w:
        w.listen(name)
        w.write(b"socket")
        with mmsync.Reader.connect(name) as r, r.read() as v:
            assert bytes(v) == b"socket"
    with pytest.raises(ValueError):
        mmsync.Reader(b"nul\0inside")


def unique_name():
    from conftest import unique
    return unique("bytes")
