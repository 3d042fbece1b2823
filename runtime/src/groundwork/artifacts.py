"""Atomic writes: a step that fails leaves the previous artifact in place.

A step writes into a scratch path beside its target, `.<name>.tmp<pid>`, and moves it over
the target only once complete. A run that is killed leaves its scratch behind: the next
write of the same target removes the scratch of processes that no longer run.

A folder is replaced by one exchange of the two paths (`renameat2` with RENAME_EXCHANGE on
Linux, `renamex_np` with RENAME_SWAP on macOS), so that whoever opens the target finds the
old folder or the new one at every instant, never nothing. The target stays a real folder
(not a link to a versioned one), as DVC, which tracks it as a stage output, the registry's
copies and the image's COPY expect. Where the system or the file system cannot exchange,
two renames replace it, with a moment in between when it is absent.
"""

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

_SCRATCH_KINDS = ("tmp", "old")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_scratch(target: Path) -> None:
    """Remove the scratch paths of `target` left by processes that no longer run."""
    if not target.parent.is_dir():
        return
    for path in target.parent.iterdir():
        for kind in _SCRATCH_KINDS:
            pid = path.name.removeprefix(f".{target.name}.{kind}")
            if pid != path.name and pid.isdigit() and not _running(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it over `target` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def _exchange_call():
    """The C library's call that swaps two paths in one step, or None where there is none."""
    if sys.platform not in ("linux", "darwin"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if sys.platform == "linux" and hasattr(libc, "renameat2"):  # glibc 2.28 and later
        at_fdcwd, rename_exchange = -100, 2
        call = libc.renameat2
        return lambda a, b: call(at_fdcwd, a, at_fdcwd, b, rename_exchange)
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        call = libc.renamex_np
        return lambda a, b: call(a, b, rename_swap)
    return None


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step; False where the system or the file system
    cannot (then neither moved)."""
    call = _exchange_call()
    if call is None:
        return False
    if call(os.fsencode(first), os.fsencode(second)) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty temporary directory beside `target`; swap it in only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    old = target.with_name(f".{target.name}.old{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if not target.exists():
            tmp.replace(target)
        elif not exchange(tmp, target):  # the old folder is now at `tmp`, removed below
            target.replace(old)
            tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
