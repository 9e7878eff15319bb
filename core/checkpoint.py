"""Checkpoints: a run's whole state on disk, restartable on any number of ranks.

Layout of a checkpoint directory ``DIR``::

    DIR/step-000000120/rank-0000-of-0002.npz   one shard per rank (np.savez_compressed)
    DIR/step-000000120/rank-0001-of-0002.npz
    DIR/step-000000120/manifest.json           written last: the checkpoint is complete
    DIR/step-000000090/...                     the previous checkpoint (two are kept)
    DIR/latest.json                            points at the newest complete one

A shard holds :meth:`paget.engine.RankRun.state_dict` of one rank (plain arrays,
never pickles; read with ``allow_pickle=False``) plus ``meta.*`` arrays naming
the paget version, the configuration digest and the step.  Shards are
compressed (zlib, the ``.npz`` deflate): a state's record arrays are mostly
zeros and repeats, and compress about tenfold.  Every file is created with the
permissions the umask allows (as ``open()`` would), written under a temporary
name and renamed into place (``os.replace``), so a half-written file never
carries a final name; the manifest, which lists each
shard's patients and SHA-256, is written only after every shard is in place.
A step directory without a manifest is therefore an unfinished checkpoint and
is ignored.  A restart reads the newest complete manifest, checks the format,
the paget version, the configuration (digest of the resolved config) and each
shard's digest, and refuses with :class:`CheckpointError` naming what differs.

Because every random draw is keyed by (seed, uid, step, purpose, patient) and
never by a generator's position, a run restarted from a checkpoint continues
exactly as the uninterrupted run would have, on any number of ranks: each rank
loads the shards overlapping its patients and cuts its block out with
:func:`paget.engine.select_patients`.

Rejected: pickling the RankRun (ties a checkpoint to the class layout and the
rank count, and loading a pickle executes code); one file per checkpoint
written by rank 0 (gathers the whole state to one rank).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ConfigError, PagetError

__all__ = ["Checkpoints", "CheckpointError", "Interrupted", "find_checkpoint",
           "read_manifest", "config_digest", "build_fingerprint", "FORMAT", "FORMAT_VERSION"]

FORMAT = "paget-checkpoint"
#: 2: shards compressed (``np.savez_compressed``); the build fingerprint hashes
#: sources, not compiled files (:func:`build_fingerprint`).  1: uncompressed shards.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
LATEST = "latest.json"
_STEP_DIR = re.compile(r"^step-(\d{9,})$")
_SHARD = "rank-{rank:04d}-of-{size:04d}.npz"
_META = "meta."


class CheckpointError(PagetError):
    """A checkpoint is missing, incomplete, corrupt or belongs to another run.

    The message names the checkpoint and what differs; the CLI prints it on one
    line and exits with status 2.
    """


class Interrupted(PagetError):
    """The run stopped early on SIGTERM after writing a checkpoint.

    Raised on every rank.  ``path`` is the checkpoint written, ``step`` the
    step it resumes at, ``directory`` the checkpoint directory to restart from.
    """

    def __init__(self, message: str, path: Path, step: int, directory: Path):
        super().__init__(message)
        self.path, self.step, self.directory = path, step, directory


@dataclass(frozen=True)
class Checkpoints:
    """Where and how often a run writes checkpoints.

    Parameters
    ----------
    directory : path
        The checkpoint directory; created if missing.
    every : float, optional
        Days of simulated time between checkpoints; a whole number of steps
        (``cohort.dt``).  None: only on SIGTERM.
    keep : int
        Complete checkpoints kept (the newest ones); older ones are deleted
        once a new one is complete.
    note : mapping, optional
        JSON-serialisable facts stored in the manifest (the CLI stores the
        output path there, so ``paget run --restart DIR`` needs nothing else).
    """

    directory: Path
    every: float | None = None
    keep: int = 2
    note: Mapping[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", Path(self.directory))
        if self.keep < 1:
            raise ConfigError(f"checkpoint keep = {self.keep!r}: must be at least 1")

    def every_steps(self, dt: float) -> int | None:
        """Steps between checkpoints, or None; ConfigError if not a whole number."""
        if self.every is None:
            return None
        every = float(self.every)
        ratio = every / dt if np.isfinite(every) else np.nan
        if not (np.isfinite(ratio) and ratio >= 1 - 1e-9 and
                abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio) and ratio < 2**62):
            raise ConfigError(f"--checkpoint-every = {self.every!r}: must be a whole number "
                              f"(>= 1) of steps of cohort.dt = {dt:g} days")
        return int(round(ratio))


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def config_digest(config_json: Mapping[str, Any]) -> str:
    """SHA-256 of the resolved configuration in canonical JSON."""
    text = json.dumps(config_json, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


_BUILD: str | None = None
_NOT_MODEL = {"cli.py", "__main__.py"}   # the user interface: cannot change a result
#: The packages of paget's model code; their subpackages are found as well.
_MODEL_PACKAGES = ("paget", "paget.ext", "paget.plugins")
#: Source files that determine what the model computes: Python modules, and the
#: Cython kernels with the declarations and C headers they are compiled from.
_SOURCES = (".py", ".pyx", ".pxd", ".h")
_CYTHON_ABI = re.compile(rb"_cython_([0-9][0-9A-Za-z_]*)")


def build_fingerprint() -> str:
    """SHA-256 (12 hex digits) of what determines paget's results: its sources and
    the facts of the build, never the bytes of a compiled file.

    A development install keeps one version number across many changes of the
    model, and a checkpoint restarted under changed code would silently differ
    from the uninterrupted run, so the manifest records this fingerprint and a
    restart under another one is refused.  It hashes

    * the paget version and the NumPy version;
    * every ``.py`` module of ``paget``, ``paget.ext``, ``paget.plugins`` and
      their subpackages, but the command-line interface (``cli.py``,
      ``__main__.py``), which cannot change a result;
    * the kernels' sources (``paget.ext``'s ``*.pyx``, ``*.pxd``, ``*.h``);
    * for each compiled module, its platform tag (Python ABI, system) and the
      Cython version that generated it (read from the module).

    Two builds of the same sources therefore have the same fingerprint (a
    compiled module's bytes differ between builds: they embed the build's
    temporary paths), so a reinstall keeps every checkpoint usable.  The
    ``.pyx`` is installed beside the compiled module (package data, in a wheel
    too); where it is missing the compiled module is hashed byte for byte
    instead, and such an install can only restart its own checkpoints.  A
    debug build of the kernels (``PAGET_DEBUG_KERNELS``) has the fingerprint
    of the release build: it only adds checks that raise where the release
    build's result would be undefined.  Not covered: the NumPy a build
    compiled the kernels' random distributions from (``libnpyrandom``, linked
    in); the kernels do not record it.
    """
    global _BUILD
    if _BUILD is None:
        _BUILD = _fingerprint(_package_dirs())
    return _BUILD


def _package_dirs() -> dict[str, Path]:
    """The directory of each package of paget's model code, by package name.

    Found from the import system's specs, without importing anything (an
    editable install maps each top-level package to its own folder), then by
    walking each package's folders that hold an ``__init__.py``."""
    import importlib.util
    dirs = {}
    for root in _MODEL_PACKAGES:
        spec = importlib.util.find_spec(root)
        for top in (spec.submodule_search_locations or []) if spec else []:
            top = Path(top)
            for init in sorted(top.rglob("__init__.py")):
                rel = init.parent.relative_to(top).parts
                if any(part.startswith(".") or part == "__pycache__" for part in rel):
                    continue
                dirs.setdefault(".".join((root, *rel)), init.parent)
    return dict(sorted(dirs.items()))


def _compiled_modules(directory: Path) -> list[tuple[str, str, Path]]:
    """(module name, platform suffix, path) of each compiled module in ``directory``."""
    import importlib.machinery
    out = []
    for f in sorted(directory.iterdir()):
        for suffix in sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True):
            if f.is_file() and f.name.endswith(suffix):
                out.append((f.name[:-len(suffix)], suffix, f))
                break
    return out


def _fingerprint(dirs: Mapping[str, Path]) -> str:
    """The fingerprint of the packages in ``dirs`` (package name: its directory)."""
    from .simulation import _version
    h = hashlib.sha256()

    def add(key: str, value: bytes) -> None:
        h.update(f"{key}\0".encode())
        h.update(hashlib.sha256(value).digest())

    add("paget", _version().encode())
    add("numpy", np.__version__.encode())
    for pkg, base in sorted(dirs.items()):
        for f in sorted(base.iterdir()):
            if f.is_file() and f.suffix in _SOURCES and \
                    not (pkg == "paget" and f.name in _NOT_MODEL):
                add(f"{pkg}/{f.name}", f.read_bytes())
        for module, suffix, f in _compiled_modules(base):
            binary = f.read_bytes()
            if (base / f"{module}.pyx").is_file():
                abi = _CYTHON_ABI.search(binary)
                cython = abi.group(1).decode() if abi else "unknown"
                add(f"{pkg}/{module}:build", f"{suffix} cython {cython}".encode())
            else:
                add(f"{pkg}/{module}:binary", binary)
    return h.hexdigest()[:12]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(fileobj)`` to a temporary file, fsync, rename to ``path``."""
    from .files import umask_mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, umask_mode(0o666))   # mkstemp makes it 0o600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _step_dir_name(step: int) -> str:
    return f"step-{step:09d}"


def _complete_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the step directories holding a manifest, oldest first."""
    out = []
    if directory.is_dir():
        for entry in directory.iterdir():
            m = _STEP_DIR.match(entry.name)
            if m and (entry / MANIFEST).is_file():
                out.append((int(m.group(1)), entry))
    return sorted(out)


# --------------------------------------------------------------------------
# Writing (collective over the ranks of a run)
# --------------------------------------------------------------------------

def write_checkpoint(comm, policy: Checkpoints, step: int,
                     get_state: Callable[[], Mapping[str, np.ndarray]],
                     header: Mapping[str, Any]) -> Path:
    """Write this rank's shard; rank 0 writes the manifest once all shards are in place.

    Collective: every rank of ``comm`` (None: a serial run) calls it at the
    same step.  ``get_state()`` gives this rank's state (called once).  Any
    failure on any rank raises :class:`CheckpointError` on every rank, so no
    rank is left waiting in a collective.  Returns the step directory.
    """
    size = 1 if comm is None else comm.Get_size()
    rank = 0 if comm is None else comm.Get_rank()
    root = policy.directory
    target = root / _step_dir_name(step)

    def bcast(value):
        return value if comm is None else comm.bcast(value, root=0)

    # 1. rank 0 prepares an empty step directory (a leftover of a killed run is removed)
    err = None
    if rank == 0:
        try:
            root.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            target.mkdir()
        except OSError as exc:
            err = f"cannot create {target}: {exc}"
    err = bcast(err)
    if err:
        raise CheckpointError(f"checkpoint not written: {err}")

    # 2. every rank writes its shard
    name = _SHARD.format(rank=rank, size=size)
    info: dict[str, Any] = {"file": name}
    try:
        arrays = {k: np.asarray(v) for k, v in get_state().items()}
        info.update(lo=int(arrays["lo"]), hi=int(arrays["hi"]))
        bad = [k for k, v in arrays.items() if v.dtype.hasobject]
        if bad:
            raise TypeError(f"state arrays {bad} hold Python objects; checkpoints never pickle")
        arrays[_META + "format_version"] = np.int64(FORMAT_VERSION)
        arrays[_META + "paget_version"] = np.str_(header["paget_version"])
        arrays[_META + "config_sha256"] = np.str_(header["config_sha256"])
        arrays[_META + "step"] = np.int64(step)
        _atomic_write(target / name, lambda fh: np.savez_compressed(fh, **arrays))
        info["sha256"] = _sha256_file(target / name)
        info["bytes"] = (target / name).stat().st_size
    except Exception as exc:
        info["error"] = f"rank {rank}: {type(exc).__name__}: {exc}"
    infos = [info] if comm is None else comm.gather(info, root=0)

    # 3. rank 0 writes the manifest (last), points latest.json at it, prunes
    err = None
    if rank == 0:
        errors = [i["error"] for i in infos if "error" in i]
        if errors:
            err = "; ".join(errors)
        else:
            try:
                manifest = dict(header)
                manifest.update(format=FORMAT, format_version=FORMAT_VERSION, step=int(step),
                                ranks=size, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                shards=infos, note=dict(policy.note or {}))
                text = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False)
                _fsync_dir(target)
                _atomic_write(target / MANIFEST, lambda fh: fh.write(text.encode()))
                _fsync_dir(target)
                latest = {"checkpoint": target.name, "step": int(step),
                          "manifest_sha256": hashlib.sha256(text.encode()).hexdigest()}
                _atomic_write(root / LATEST,
                              lambda fh: fh.write(json.dumps(latest, indent=1).encode()))
                _prune(root, keep=policy.keep, current=target)
            except Exception as exc:
                err = f"{type(exc).__name__}: {exc}"
    err = bcast(err)
    if err:
        raise CheckpointError(f"checkpoint {target} not written: {err}")
    return target


def _prune(root: Path, keep: int, current: Path) -> None:
    """Delete all but the newest ``keep`` complete checkpoints up to ``current``,
    unfinished ones, and any of later steps: those belong to a timeline this run
    abandoned by restarting from an older checkpoint (perhaps because a newer
    one was corrupt), and must not be taken for its newest."""
    step = int(_STEP_DIR.match(current.name).group(1))
    complete = [(s, p) for s, p in _complete_checkpoints(root) if s <= step]
    keep_paths = {p for _, p in complete[-keep:]} | {current}
    for entry in root.iterdir():
        if _STEP_DIR.match(entry.name) and entry.is_dir() and entry not in keep_paths:
            shutil.rmtree(entry, ignore_errors=True)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def check_directory(policy: Checkpoints, config_sha256: str) -> None:
    """Refuse to write into a directory holding checkpoints of another configuration."""
    for _, step_dir in _complete_checkpoints(policy.directory):
        try:
            other = json.loads((step_dir / MANIFEST).read_text()).get("config_sha256")
        except (OSError, ValueError):
            continue   # unreadable: an abandoned checkpoint, pruned by the next write
        if other != config_sha256:
            raise CheckpointError(f"checkpoint directory {str(policy.directory)!r} holds "
                                  f"checkpoints of another configuration ({step_dir.name}); "
                                  f"choose another directory")


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The step directory to restart from.

    ``path`` is a checkpoint directory (its newest complete checkpoint is
    taken; unfinished ones, without a manifest, are ignored) or one step
    directory holding a ``manifest.json``.
    """
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    if not path.is_dir():
        if os.path.lexists(path):
            raise CheckpointError(f"checkpoint {str(path)!r} is not a directory: give a "
                                  f"checkpoint directory or one of its step-* directories")
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    complete = _complete_checkpoints(path)
    if not complete:
        raise CheckpointError(f"checkpoint directory {str(path)!r} holds no complete "
                              f"checkpoint (no step-*/{MANIFEST})")
    return complete[-1][1]


def _older(step_dir: Path) -> str:
    """A hint naming the next older complete checkpoint, if there is one."""
    older = [p for s, p in _complete_checkpoints(step_dir.parent) if p != step_dir and
             p.name < step_dir.name]
    return f"; an older checkpoint is {older[-1]} (pass it to --restart)" if older else ""


def read_manifest(step_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a step directory, checked for form and self-consistency."""
    step_dir = Path(step_dir)
    where = step_dir / MANIFEST
    try:
        manifest = json.loads(where.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{where} is missing: the checkpoint is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where} is not readable JSON ({exc}): the checkpoint is "
                              f"corrupt{_older(step_dir)}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a paget checkpoint manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        from .simulation import _version
        newer = isinstance(version, int) and version > FORMAT_VERSION
        writer = manifest.get("paget_version")
        raise CheckpointError(
            f"{where}: checkpoint format {version!r}, from {'a newer' if newer else 'an older'} "
            f"paget{f' ({writer})' if isinstance(writer, str) else ''}; this paget "
            f"({_version()}) reads format {FORMAT_VERSION} only: continue the run with the "
            f"paget that wrote the checkpoint, or run it again from the start")
    try:
        step = manifest["step"]
        shards = manifest["shards"]
        config = manifest["config"]
        if not (isinstance(step, int) and isinstance(shards, list) and shards and
                isinstance(config, dict)):
            raise TypeError("step, shards or config has the wrong type")
        digest = config_digest(config)
        for s in shards:
            if not (isinstance(s.get("file"), str) and re.fullmatch(r"rank-\d{4,}-of-\d{4,}\.npz",
                                                                       s["file"])
                    and isinstance(s.get("lo"), int) and isinstance(s.get("hi"), int)
                    and isinstance(s.get("sha256"), str)):
                raise TypeError(f"bad shard entry {s!r}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"{where} is malformed ({exc}){_older(step_dir)}") from None
    if digest != manifest.get("config_sha256"):
        raise CheckpointError(f"{where}: the stored configuration does not match its "
                              f"checksum (edited or corrupt){_older(step_dir)}")
    los = [s["lo"] for s in shards]
    his = [s["hi"] for s in shards]
    patients = config.get("cohort", {}).get("patients")
    if los[0] != 0 or his[-1] != patients or any(a != b for a, b in zip(his, los[1:])):
        raise CheckpointError(f"{where}: the shards do not cover patients 0 to {patients} "
                              f"in order{_older(step_dir)}")
    return manifest


def check_compatible(manifest: Mapping[str, Any], step_dir: Path, *, version: str,
                     config_json: Mapping[str, Any], plugins: list[str], n_steps: int) -> None:
    """Refuse a checkpoint of another paget version, configuration or plugin set."""
    where = step_dir / MANIFEST
    if manifest.get("paget_version") != version:
        raise CheckpointError(f"{where}: written by paget {manifest.get('paget_version')!r}, "
                              f"this is paget {version!r}; restart with that version")
    if manifest.get("paget_build") != build_fingerprint():
        raise CheckpointError(f"{where}: written by paget {version} build "
                              f"{manifest.get('paget_build')!r}, this is build "
                              f"{build_fingerprint()!r}: the code changed (paget's sources, or "
                              f"the NumPy or Cython it runs with), so a restarted run "
                              f"would not equal the uninterrupted one")
    if config_digest(config_json) != manifest["config_sha256"]:
        diff = _config_diff(manifest["config"], config_json)
        raise CheckpointError(f"{where}: the checkpoint was made with another configuration "
                              f"({diff})")
    if list(manifest.get("plugins", [])) != list(plugins):
        raise CheckpointError(f"{where}: the checkpoint was made with plugins "
                              f"{manifest.get('plugins')}, this run loads {plugins}")
    if manifest.get("n_steps") != n_steps or not 0 < manifest["step"] < n_steps:
        raise CheckpointError(f"{where}: step {manifest['step']} of {manifest.get('n_steps')} "
                              f"does not fit this run of {n_steps} steps")


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def _config_diff(stored: Mapping[str, Any], given: Mapping[str, Any], limit: int = 4) -> str:
    a, b = _flatten(dict(stored)), _flatten(dict(given))
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<unset>") != b.get(k, "<unset>"))
    parts = [f"{k}: checkpoint {a.get(k, '<unset>')!r}, this run {b.get(k, '<unset>')!r}"
             for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return "; ".join(parts) or "the digests differ"


def load_shard(step_dir: Path, entry: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One shard, verified against the manifest (digest, patients, step, config)."""
    path = step_dir / entry["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {step_dir}: shard {entry['file']} is missing or "
                              f"unreadable ({exc}){_older(step_dir)}") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(f"checkpoint {step_dir}: shard {entry['file']} is corrupt "
                              f"(its SHA-256 differs from the manifest's){_older(step_dir)}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise CheckpointError(f"checkpoint {step_dir}: shard {entry['file']} is not a shard of "
                              f"plain arrays, readable without unpickling "
                              f"({type(exc).__name__}: {exc}){_older(step_dir)}") from None
    meta = {k[len(_META):]: arrays.pop(k) for k in list(arrays) if k.startswith(_META)}
    expect = {"format_version": FORMAT_VERSION, "paget_version": manifest["paget_version"],
              "config_sha256": manifest["config_sha256"], "step": manifest["step"]}
    for key, want in expect.items():
        got = meta.get(key)
        if got is None or got.ndim != 0 or got.item() != want:
            raise CheckpointError(f"checkpoint {step_dir}: shard {entry['file']} has "
                                  f"{key} = {None if got is None else got.item()!r}, the "
                                  f"manifest says {want!r}")
    if int(arrays.get("lo", -1)) != entry["lo"] or int(arrays.get("hi", -1)) != entry["hi"]:
        raise CheckpointError(f"checkpoint {step_dir}: shard {entry['file']} holds other "
                              f"patients than the manifest lists")
    return arrays


def load_rank_state(step_dir: Path, manifest: Mapping[str, Any], lo: int,
                    hi: int) -> dict[str, np.ndarray]:
    """The state of patients ``[lo, hi)`` at the checkpoint's step, from the shards
    that hold them (written by any number of ranks)."""
    from .engine import select_patients
    step = int(manifest["step"])
    shards = manifest["shards"]
    mine = [s for s in shards if s["lo"] < hi and s["hi"] > lo]
    if not mine:  # a rank without patients still needs the (empty) arrays' shapes
        mine = [next(s for s in shards if s["lo"] <= lo <= s["hi"])]
    states = [at_step(load_shard(step_dir, s, manifest), step) for s in mine]
    try:
        return select_patients(states, lo, hi)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {step_dir}: shards do not fit together ({exc})") from None


def at_step(state: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
    """``state``, checked to be a rank's state at the checkpoint's step.

    Every rank steps to the end of the run, also one whose patients have all
    died (:meth:`RankRun.run`), so all shards of a checkpoint stand at its
    step; one that does not was not written by this code.
    """
    if int(state["next_step"]) != step:
        raise CheckpointError(f"a shard is at step {int(state['next_step'])}, the checkpoint "
                              f"at step {step}")
    return state
