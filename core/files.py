"""The paths a run writes, checked before step 0: the output and the checkpoint directory.

A run that cannot write its result should fail at once, not after hours of
simulation; and ``--overwrite`` must never cost a user a directory paget did
not make.  So, before anything is computed:

* the directory the output goes into, and the parent of a checkpoint
  directory, must exist already (paget creates no missing parents: a typo in a
  path should not silently create a tree somewhere else);
* something already at the output path is replaced only with ``overwrite``,
  and only if paget could have written it: a regular file, or a Zarr store
  whose root attributes say paget made it.  A directory paget did not make, a
  directory named ``*.nc`` or a symbolic link is never replaced;
* a probe (a temporary file created and removed) shows the directory can be
  written.

Each failure raises :class:`paget.errors.PathError` (or, for an output that
exists without ``overwrite``, :class:`paget.errors.OutputExistsError`) naming
the path and what to do; nothing is left behind.  Files are created with the
permissions the umask allows (:func:`umask_mode`), like any other program's.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from .errors import OutputExistsError, PathError

__all__ = ["check_output", "check_checkpoint_directory", "is_paget_store", "replaceable",
           "refusal", "umask_mode"]

#: The ``title`` attribute of every dataset paget writes (:func:`paget.output.config_attrs`).
PAGET_TITLE = "paget simulation"


def is_paget_store(path: str | os.PathLike) -> bool:
    """Is ``path`` a directory holding a Zarr (format 2) store that paget wrote?

    The root attributes (``.zattrs``, or the consolidated ``.zmetadata``) must
    carry paget's ``title`` and a ``paget_version``, as every store paget
    writes does.  A symbolic link is never one.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    candidates = []
    try:
        meta = json.loads((path / ".zmetadata").read_text(encoding="utf-8"))
        candidates.append(meta.get("metadata", {}).get(".zattrs"))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        candidates.append(json.loads((path / ".zattrs").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    return any(isinstance(attrs, dict) and attrs.get("title") == PAGET_TITLE
               and "paget_version" in attrs for attrs in candidates)


def replaceable(path: str | os.PathLike) -> str | None:
    """None if ``overwrite`` may replace what is at ``path`` (nothing, a
    regular file, or a Zarr store paget wrote); else what is there, as a
    phrase ("a directory", ...)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        if path.suffix != ".zarr":
            return "a directory"
        return None if is_paget_store(path) else "a directory but not a .zarr store paget wrote"
    return "not a regular file"


def refusal(flag: str, path: Path, what: str) -> str:
    """The message refusing to replace ``what`` (from :func:`replaceable`) at ``path``."""
    return (f"{flag} {str(path)!r}: is {what}; paget replaces (with --overwrite) only a file "
            f"or a .zarr store it wrote: remove it or choose another name")


def _existing_directory(directory: Path, flag: str, path: Path) -> None:
    """Refuse a ``directory`` that is missing or not a directory."""
    if directory.is_dir():
        return
    if os.path.lexists(directory):
        raise PathError(f"{flag} {str(path)!r}: {str(directory)!r} is not a directory")
    raise PathError(f"{flag} {str(path)!r}: directory {str(directory)!r} does not exist; "
                    f"paget does not create missing directories: create it first")


def _probe(directory: Path, flag: str, path: Path, *, make_dir: bool = False) -> None:
    """Create and remove a temporary file (or directory) in ``directory``."""
    try:
        if make_dir:
            os.rmdir(tempfile.mkdtemp(prefix=".paget-probe-", dir=directory))
        else:
            fd, name = tempfile.mkstemp(prefix=".paget-probe-", dir=directory)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise PathError(f"{flag} {str(path)!r}: cannot create a file in {str(directory)!r} "
                        f"(the system says: {exc.strerror or exc})") from None


def check_output(path: str | os.PathLike, *, overwrite: bool, flag: str = "-o") -> None:
    """Refuse an output ``path`` that could not be written or must not be replaced.

    ``flag`` names the path in messages (the CLI's ``-o``).  Checks the name
    (``.nc`` or ``.zarr``), that its directory exists and can be written, and
    that anything already there may be replaced (see :func:`replaceable`).
    """
    from .output import output_format
    path = Path(path)
    try:
        output_format(path)
    except ValueError as exc:
        raise PathError(f"{flag}: {exc}") from None
    parent = path.parent
    _existing_directory(parent, flag, path)
    if os.path.lexists(path):
        what = replaceable(path)
        if what is not None:
            raise PathError(refusal(flag, path, what))
        if not overwrite:
            raise OutputExistsError(f"{flag} {str(path)!r}: exists; pass --overwrite to "
                                    f"replace it")
    _probe(parent, flag, path, make_dir=output_format(path) == "zarr")


def check_checkpoint_directory(directory: str | os.PathLike,
                               flag: str = "--checkpoint") -> None:
    """Refuse a checkpoint ``directory`` that could not be written.

    An existing directory must be writable; a missing one may be created
    later (by the first checkpoint) if its parent exists and is writable.
    Nothing is created here.
    """
    directory = Path(directory)
    if directory.is_dir():
        _probe(directory, flag, directory)
        return
    if os.path.lexists(directory):
        raise PathError(f"{flag} {str(directory)!r}: exists and is not a directory")
    _existing_directory(directory.parent, flag, directory)
    _probe(directory.parent, flag, directory, make_dir=True)


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process's umask: the permissions ``open()`` would give
    a new file (``0o666``) or ``mkdir()`` a new directory (``0o777``)."""
    mask = _umask()
    return mode & ~mask


def _umask() -> int:
    try:   # Linux >= 4.7: read it without changing it (os.umask would, briefly)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
