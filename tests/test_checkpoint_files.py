"""Checkpoint files: a fingerprint that survives a rebuild, compressed shards, the
umask's permissions, and damaged checkpoints refused in one line.

The restarts here go through ``python -m paget run --restart`` in a subprocess,
as a user's would; the checkpoints are written in this process by a run with
the entry-point plugins the command line loads.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import paget
from paget.checkpoint import FORMAT_VERSION, Checkpoints, build_fingerprint

from .conftest import busy

REPO = Path(__file__).resolve().parent.parent
NEWEST = "step-000000030"
SHARD = "rank-0000-of-0001.npz"


def config() -> dict:
    """2 patients, 37 daily steps: checkpoints at steps 10, 20 and 30 (two kept)."""
    return busy(cohort={"patients": 2, "years": 0.1})


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(checkpoint directory, its run's .nc, the uninterrupted run's dataset)."""
    base = tmp_path_factory.mktemp("files")
    d, nc = base / "ck", base / "run.nc"
    sim = paget.Simulation(config())
    sim.write(nc, checkpoint=Checkpoints(d, every=10))
    with xr.open_dataset(nc) as ds:
        return d, nc, ds.load()


def copy_of(written, tmp_path: Path) -> Path:
    dst = tmp_path / "ck"
    shutil.copytree(written[0], dst)
    return dst


def restart(ck: Path, out: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if pythonpath is not None:   # import paget from there, ahead of this install
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "paget", "run", "--restart", str(ck),
                           "-o", str(out), "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def refused(r: subprocess.CompletedProcess, fragment: str) -> None:
    """Exit status 2 and one line on stderr naming ``fragment``, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert fragment in r.stderr, r.stderr


def tree(path: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``path``: each file's size and time of change."""
    return {str(f.relative_to(path)): None if f.is_dir() else (f.stat().st_size,
                                                               f.stat().st_mtime_ns)
            for f in sorted(path.rglob("*"))}


def load(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def assert_same_run(a: xr.Dataset, b: xr.Dataset) -> None:
    """Identical to the bit, but for when and how each file was written."""
    a, b = (ds.copy() for ds in (a, b))
    for ds in (a, b):
        for key in ("history", "date_created"):
            ds.attrs.pop(key, None)
    xr.testing.assert_identical(a, b)


# ---------------------------------------------------------------- 1. the fingerprint

def installed_copy(dst: Path) -> Path:
    """A second install of this paget in ``dst`` (a directory for PYTHONPATH):
    its sources, its compiled kernels, no generated C nor byte code."""
    import paget.ext
    import paget.plugins
    ignore = shutil.ignore_patterns("__pycache__", "*.c")
    shutil.copytree(Path(paget.__file__).parent, dst / "paget", ignore=ignore)
    for pkg, sub in ((paget.ext, "ext"), (paget.plugins, "plugins")):
        shutil.copytree(Path(pkg.__file__).parent, dst / "paget" / sub, ignore=ignore,
                        dirs_exist_ok=True)   # (already there in a wheel's layout)
    return dst


def compiled(pkg_dir: Path) -> list[Path]:
    from importlib.machinery import EXTENSION_SUFFIXES
    return [f for f in pkg_dir.iterdir() if any(f.name.endswith(s) for s in EXTENSION_SUFFIXES)]


def rebuild(pkg_dir: Path) -> None:
    """What a second build of the same sources changes: the compiled bytes (they
    embed the build's temporary paths), never what the kernels compute."""
    so = compiled(pkg_dir)
    assert so, f"no compiled kernels in {pkg_dir}"
    for f in so:
        f.write_bytes(f.read_bytes() + b"\0build /tmp/pip-build-env-other\0")


def copy_dirs(site: Path) -> dict[str, Path]:
    """The installed copy's directory of each package the fingerprint covers
    (``paget.engine`` -> ``site/paget/engine``): in the copy every package lies
    under ``site/paget``, as in a wheel."""
    from paget.checkpoint import _package_dirs
    return {name: site.joinpath(*name.split(".")) for name in _package_dirs()}


def test_a_rebuild_of_the_same_sources_restarts_a_checkpoint(written, tmp_path):
    """`pip install -e .` again rebuilds the kernels: their bytes change, the checkpoint
    of the earlier build still restarts, and equals the uninterrupted run."""
    site = installed_copy(tmp_path / "site")
    before = {f.name: f.read_bytes() for f in compiled(site / "paget" / "ext")}
    rebuild(site / "paget" / "ext")
    assert all(f.read_bytes() != before[f.name] for f in compiled(site / "paget" / "ext"))
    out = tmp_path / "out.nc"
    r = restart(copy_of(written, tmp_path), out, pythonpath=site)
    assert r.returncode == 0, r.stderr
    assert_same_run(load(out), written[2])


def test_a_changed_source_file_is_refused_in_one_line(written, tmp_path):
    site = installed_copy(tmp_path / "site")
    module = site / "paget" / "plugins" / "immune.py"
    module.write_text(module.read_text() + "\nEDITED = True\n")
    ck, out = copy_of(written, tmp_path), tmp_path / "out.nc"
    before = tree(tmp_path)
    refused(restart(ck, out, pythonpath=site), "the code changed")
    assert tree(tmp_path) == before


def test_the_fingerprint_hashes_the_kernel_sources_not_their_binary(tmp_path):
    from paget.checkpoint import _fingerprint
    site = installed_copy(tmp_path / "site")
    dirs = copy_dirs(site)
    ext = dirs["paget.ext"]
    assert _fingerprint(dirs) == build_fingerprint()
    rebuild(ext)
    assert _fingerprint(dirs) == build_fingerprint()
    for name in ("paget_kernels.pxd", "bounds.h", "kernels.pyx"):
        source = ext / name
        text = source.read_bytes()
        source.write_bytes(text + b"\n")
        assert _fingerprint(dirs) != build_fingerprint(), name
        source.write_bytes(text)
    assert _fingerprint(dirs) == build_fingerprint()


def test_without_the_kernel_source_the_binary_is_hashed(tmp_path):
    """An install without kernels.pyx beside the compiled kernels cannot tell a
    rebuild from a change of code: it fingerprints the binary itself."""
    from paget.checkpoint import _fingerprint
    site = installed_copy(tmp_path / "site")
    dirs = copy_dirs(site)
    (dirs["paget.ext"] / "kernels.pyx").unlink()
    without = _fingerprint(dirs)
    assert without != build_fingerprint()
    rebuild(dirs["paget.ext"])
    assert _fingerprint(dirs) != without


# ---------------------------------------------------------------- 2. compression

def test_shards_are_compressed(written):
    d, nc, _ = written
    shard = d / NEWEST / SHARD
    with zipfile.ZipFile(shard) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(shard, allow_pickle=False) as npz:
        plain = io.BytesIO()
        np.savez(plain, **{k: npz[k] for k in npz.files})   # the same, uncompressed
    assert shard.stat().st_size < len(plain.getvalue()) / 2
    assert sum(f.stat().st_size for f in d.rglob("*")) <= 2 * nc.stat().st_size


# ---------------------------------------------------------------- 3. permissions

@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                        (0o027, 0o640, 0o750)],
                         ids=["umask-022", "umask-027"])
def test_checkpoint_files_have_the_modes_the_umask_allows(tmp_path, umask, file_mode,
                                                          dir_mode):
    d = tmp_path / "ck"
    old = os.umask(umask)
    try:
        paget.Simulation(busy(cohort={"patients": 2, "years": 0.05}), entry_points=False
                         ).run(checkpoint=Checkpoints(d, every=5))
    finally:
        os.umask(old)
    entries = [d, *d.rglob("*")]
    assert any(p.suffix == ".npz" for p in entries) and (d / "latest.json").is_file()
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in entries}
    want = {str(p.relative_to(tmp_path)): oct(dir_mode if p.is_dir() else file_mode)
            for p in entries}
    assert modes == want


# ---------------------------------------------------------------- 4. damaged checkpoints

def truncate_shard(ck: Path) -> Path:
    shard = ck / NEWEST / SHARD
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    return ck


def corrupt_manifest(ck: Path) -> Path:
    manifest = ck / NEWEST / "manifest.json"
    manifest.write_text(manifest.read_text()[:200])
    return ck


def remove_shard(ck: Path) -> Path:
    (ck / NEWEST / SHARD).unlink()
    return ck


def edit_manifest(ck: Path, edit) -> Path:
    path = ck / NEWEST / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    return ck


def replace_shard(ck: Path, data: bytes) -> Path:
    """A shard of other bytes, with the manifest's digest made to match."""
    import hashlib
    (ck / NEWEST / SHARD).write_bytes(data)
    return edit_manifest(ck, lambda m: m["shards"][0].update(
        sha256=hashlib.sha256(data).hexdigest()))


def pickled_shard(ck: Path) -> Path:
    buf = io.BytesIO()
    with np.load(ck / NEWEST / SHARD, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["alive"] = np.array([print, "x"], dtype=object)   # np.savez pickles it
    np.savez(buf, **arrays)
    return replace_shard(ck, buf.getvalue())


def not_a_checkpoint(ck: Path) -> Path:
    other = ck.parent / "results"
    other.mkdir()
    (other / "notes.txt").write_text("not a checkpoint\n")
    (other / "step-000000010").mkdir()   # a step directory without a manifest
    return other


def a_file(ck: Path) -> Path:
    return ck / "latest.json"


@pytest.mark.parametrize("damage, fragment", [
    (truncate_shard, f"shard {SHARD} is corrupt"),
    (corrupt_manifest, "is not readable JSON"),
    (remove_shard, f"shard {SHARD} is missing"),
    (lambda ck: edit_manifest(ck, lambda m: m.update(format_version=FORMAT_VERSION + 1)),
     f"checkpoint format {FORMAT_VERSION + 1}, from a newer paget"),
    (lambda ck: edit_manifest(ck, lambda m: m.update(format_version=1)),
     "checkpoint format 1, from an older paget"),
    (lambda ck: edit_manifest(ck, lambda m: m.clear()), "is not a paget checkpoint manifest"),
    (lambda ck: replace_shard(ck, b"PK\x03\x04 not a zip archive"),
     "is not a shard of plain arrays"),
    (pickled_shard, "readable without unpickling"),
    (not_a_checkpoint, "holds no complete checkpoint"),
    (a_file, "is not a directory"),
], ids=["truncated-shard", "corrupt-manifest", "missing-shard", "newer-format", "older-format",
        "empty-manifest", "shard-not-npz", "shard-pickled", "not-a-checkpoint", "a-file"])
def test_a_damaged_checkpoint_is_refused_in_one_line_writing_nothing(written, tmp_path, damage,
                                                                     fragment):
    ck = damage(copy_of(written, tmp_path))
    out = tmp_path / "out.nc"
    before = tree(tmp_path)
    refused(restart(ck, out), fragment)
    assert tree(tmp_path) == before


def test_an_intact_copy_restarts(written, tmp_path):
    """The control of the test above: undamaged, the same copy restarts."""
    out = tmp_path / "out.nc"
    r = restart(copy_of(written, tmp_path), out)
    assert r.returncode == 0, r.stderr
    assert_same_run(load(out), written[2])
