"""Files, signals and first contact: the paths a run reads and writes, Ctrl-C, --version.

Every bad path is refused before step 0 in one line, exit status 2, with the
directory tree left exactly as it was; ``--overwrite`` replaces only what paget
could have written; outputs respect the umask; SIGINT (Ctrl-C) stops like
SIGTERM, with exit status 130.

Loaded as a plugin (``--plugin tests.test_files``) this module sleeps
``PAGET_TEST_SLEEP`` seconds each step and creates the file
``PAGET_TEST_STEPPING.RANK`` at each rank's first step, so a signal can be
sent while every rank is stepping; and on rank 0 it removes the directory
``PAGET_TEST_REMOVE`` at the first step, so that a write checked before the
run fails after it.  Without those variables it does nothing.
"""
from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import paget
from paget.cli import main
from paget.errors import OutputExistsError, PathError, plural

from .conftest import busy

REPO = Path(__file__).resolve().parent.parent
PLUGIN = "tests.test_files"
RUN = ["run", "--patients", "2", "--years", "0.05", "--no-progress"]
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
PROC = Path("/proc/self").is_dir()


# ---------------------------------------------------------------- the plugin

_STEPPING: list = []


@paget.hookimpl
def paget_update_state(t):
    gone = os.environ.get("PAGET_TEST_REMOVE")
    if gone and os.path.isdir(gone):
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() == 0:
            import shutil
            shutil.rmtree(gone)
    delay = os.environ.get("PAGET_TEST_SLEEP")
    if delay is None:
        return
    mark = os.environ.get("PAGET_TEST_STEPPING")
    if mark and not _STEPPING:
        from mpi4py import MPI
        Path(f"{mark}.{MPI.COMM_WORLD.Get_rank()}").touch()
        _STEPPING.append(True)       # once: the test removes it
    time.sleep(float(delay))


# ---------------------------------------------------------------- helpers

def tree(root: Path) -> dict[str, object]:
    """Everything under ``root``: directories, files with their bytes, links with their targets."""
    out: dict[str, object] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(base) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


def paget_store(path: Path) -> Path:
    """A minimal store whose root attributes say paget wrote it."""
    path.mkdir()
    (path / ".zattrs").write_text(json.dumps({"title": "paget simulation",
                                              "paget_version": "0.0"}))
    (path / ".zgroup").write_text('{"zarr_format": 2}')
    return path


# ---------------------------------------------------------------- the corpus of bad input

def _non_utf8(tmp):
    (tmp / "latin1.toml").write_bytes("# café\n[cohort]\npatients = 2\n".encode("latin-1"))
    return ["latin1.toml"], "'latin1.toml' is not UTF-8 text: byte 0xe9 at offset 5 (line 1)"


def _malformed(tmp):
    (tmp / "bad.toml").write_text("[cohort\npatients = 2\n")
    return ["bad.toml"], "'bad.toml' is not valid TOML"


def _config_is_a_directory(tmp):
    (tmp / "conf.toml").mkdir()
    return ["conf.toml"], "'conf.toml' is a directory"


def _config_missing(tmp):
    return ["missing.toml"], "'missing.toml' does not exist"


def _output_under_proc(tmp):
    return ["-o", "/proc/out.nc"], "cannot create a file in '/proc'"


def _output_under_a_file(tmp):
    (tmp / "file.txt").write_text("a file")
    return ["-o", "file.txt/out.nc"], "'file.txt' is not a directory"


def _directory_named_nc(tmp):
    (tmp / "d.nc").mkdir()
    (tmp / "d.nc" / "notes.txt").write_text("mine")
    return ["-o", "d.nc", "--overwrite"], "'d.nc': is a directory"


def _foreign_zarr(tmp):
    (tmp / "d.zarr").mkdir()
    (tmp / "d.zarr" / "thesis.tex").write_text("years of work")
    return ["-o", "d.zarr", "--overwrite"], "not a .zarr store paget wrote"


def _zarr_store_of_another_program(tmp):
    (tmp / "d.zarr").mkdir()
    (tmp / "d.zarr" / ".zattrs").write_text('{"title": "someone else\'s data"}')
    (tmp / "d.zarr" / ".zgroup").write_text('{"zarr_format": 2}')
    return ["-o", "d.zarr", "--overwrite"], "not a .zarr store paget wrote"


def _symlink_to_a_paget_store(tmp):
    paget_store(tmp / "real.zarr")
    (tmp / "link.zarr").symlink_to("real.zarr")
    return ["-o", "link.zarr", "--overwrite"], "'link.zarr': is a symbolic link"


def _missing_parents_nc(tmp):
    return ["-o", "no/such/dir/out.nc"], "directory 'no/such/dir' does not exist"


def _missing_parents_zarr(tmp):
    return ["-o", "no/such/dir/out.zarr"], "directory 'no/such/dir' does not exist"


def _missing_parents_checkpoint(tmp):
    return ["-o", "out.nc", "--checkpoint", "no/such/ck"], "directory 'no/such' does not exist"


def _checkpoint_under_proc(tmp):
    return ["--checkpoint", "/proc/ck"], "cannot create a file in '/proc'"


def _checkpoint_is_a_file(tmp):
    (tmp / "ck").write_text("a file")
    return ["--checkpoint", "ck"], "'ck': exists and is not a directory"


def _read_only_directory(tmp):
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)
    return ["-o", "ro/out.nc"], "cannot create a file in 'ro'"


def _read_only_checkpoint_directory(tmp):
    (tmp / "ck").mkdir()
    (tmp / "ck").chmod(0o555)
    return ["-o", "out.nc", "--checkpoint", "ck"], "cannot create a file in 'ck'"


CORPUS = [_non_utf8, _malformed, _config_is_a_directory, _config_missing,
          pytest.param(_output_under_proc, marks=pytest.mark.skipif(not PROC, reason="no /proc")),
          _output_under_a_file, _directory_named_nc, _foreign_zarr,
          _zarr_store_of_another_program, _symlink_to_a_paget_store, _missing_parents_nc,
          _missing_parents_zarr, _missing_parents_checkpoint,
          pytest.param(_checkpoint_under_proc,
                       marks=pytest.mark.skipif(not PROC, reason="no /proc")),
          _checkpoint_is_a_file,
          # permission bits do not stop root: the /proc and file.txt cases stand in
          pytest.param(_read_only_directory,
                       marks=pytest.mark.skipif(ROOT, reason="root writes anywhere")),
          pytest.param(_read_only_checkpoint_directory,
                       marks=pytest.mark.skipif(ROOT, reason="root writes anywhere"))]


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: getattr(c, "__name__", "")[1:])
def test_bad_paths_and_files_exit_2_in_one_line_and_change_nothing(case, tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    args, fragment = case(tmp_path)
    before = tree(tmp_path)
    code = main(["run", *args, "--patients", "2", "--years", "0.05", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert tree(tmp_path) == before              # nothing created, nothing deleted


def test_a_latin1_config_is_one_line_from_the_installed_command(tmp_path):
    """What a user meets: no traceback of UnicodeDecodeError, exit 2."""
    (tmp_path / "c.toml").write_bytes(b"[cohort]\npatients = 2 # \xe9t\xe9\n")
    r = subprocess.run([sys.executable, "-m", "paget", "run", "c.toml", "-o", "out.nc"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("paget: config error: config file 'c.toml' is not UTF-8 text: "
                                "byte 0xe9 at offset 24 (line 2); TOML files must be UTF-8: "
                                "save it as UTF-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    from paget.config import read_toml
    (tmp_path / "c.toml").write_bytes(b"\xef\xbb\xbf[cohort]\npatients = 2\n")
    assert read_toml(tmp_path / "c.toml") == {"cohort": {"patients": 2}}
    (tmp_path / "d.toml").write_bytes(b"\xef\xbb\xbf[cohort]\n\xff")
    with pytest.raises(paget.ConfigError, match="byte 0xff at offset 12 .line 2."):
        read_toml(tmp_path / "d.toml")


# ---------------------------------------------------------------- what --overwrite replaces

def test_overwrite_replaces_a_store_paget_wrote_and_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*RUN, "-o", "d.zarr"]) == 0
    (tmp_path / "d.zarr" / "stale").write_text("from the old run")
    assert main([*RUN, "-o", "d.zarr", "--overwrite"]) == 0, capsys.readouterr().err
    assert not (tmp_path / "d.zarr" / "stale").exists()
    (tmp_path / "f.zarr").write_text("a file: --overwrite is consent for it")
    assert main([*RUN, "-o", "f.zarr", "--overwrite"]) == 0, capsys.readouterr().err
    assert (tmp_path / "f.zarr" / ".zmetadata").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zarr", "f.zarr"]


def test_publish_never_removes_a_directory_paget_did_not_write(tmp_path):
    from paget.output import publish
    new = paget_store(tmp_path / ".new.tmp")
    target = tmp_path / "d.zarr"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(PathError, match="not a .zarr store paget wrote"):
        publish(new, target, overwrite=True)
    assert (target / "thesis.tex").read_text() == "years of work"
    paget_store(tmp_path / "old.zarr")
    publish(new, tmp_path / "old.zarr", overwrite=True)     # one paget wrote: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zarr", "old.zarr"]


def test_a_paget_store_is_known_by_its_root_attributes(sim, tmp_path):
    from paget.files import is_paget_store
    sim.write(tmp_path / "a.zarr")
    assert is_paget_store(tmp_path / "a.zarr")
    (tmp_path / "a.zarr" / ".zattrs").unlink()               # the consolidated copy is enough
    assert is_paget_store(tmp_path / "a.zarr")
    (tmp_path / "b.zarr").mkdir()
    (tmp_path / "b.zarr" / ".zattrs").write_text("not json")
    assert not is_paget_store(tmp_path / "b.zarr")
    assert not is_paget_store(tmp_path / "missing.zarr")


def test_the_api_checks_the_output_before_running(sim, tmp_path, monkeypatch):
    from paget.output import write_dataset

    def never(*args, **kwargs):
        raise AssertionError("ran although the output cannot be written")

    monkeypatch.setattr(paget.Simulation, "_run_block", never)
    (tmp_path / "d.nc").mkdir()
    for path, overwrite, match in [(tmp_path / "no" / "out.nc", False, "does not exist"),
                                   (tmp_path / "no" / "out.zarr", False, "does not exist"),
                                   (tmp_path / "d.nc", True, "is a directory")]:
        with pytest.raises(PathError, match=match):
            sim.write(path, overwrite=overwrite)
    with pytest.raises(PathError, match="is a directory"):     # with or without --overwrite
        sim.write(tmp_path / "d.nc")
    (tmp_path / "f.nc").write_text("precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        sim.write(tmp_path / "f.nc")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_dataset(None, tmp_path / "no" / "out.nc")
    with pytest.raises(PathError, match="is a directory"):
        write_dataset(None, tmp_path / "d.nc", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.nc", "f.nc"]
    assert (tmp_path / "f.nc").read_text() == "precious"


# ---------------------------------------------------------------- permissions

@pytest.fixture(scope="module")
def sim():
    return paget.Simulation(busy(cohort={"patients": 2, "years": 0.05}), entry_points=False)


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                       (0o027, 0o640, 0o750)],
                         ids=["umask-022", "umask-027"])
def test_outputs_respect_the_umask(sim, tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        sim.write(tmp_path / "out.nc")
        sim.write(tmp_path / "out.zarr")
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / "out.nc") == file_mode
    assert mode(tmp_path / "out.zarr") == dir_mode
    assert mode(tmp_path / "out.zarr" / ".zmetadata") == file_mode
    assert mode(tmp_path / "out.zarr" / "tumor_cells") == dir_mode


# ---------------------------------------------------------------- signals

def start(tmp_path: Path, *args, ranks: int = 1) -> tuple[subprocess.Popen, Path]:
    """A CLI run that sleeps each step (under mpiexec if ``ranks > 1``); returns
    once it is stepping."""
    from .test_decomposition import mpiexec
    mark = tmp_path / "stepping"
    env = {**os.environ, "PAGET_TEST_SLEEP": "0.02", "PAGET_TEST_STEPPING": str(mark)}
    proc = subprocess.Popen(
        ([mpiexec(), "-n", str(ranks)] if ranks > 1 else []) +
        [sys.executable, "-m", "paget", "run", "--patients", "2", "--years", "1",
         "--no-progress", "--plugin", PLUGIN, *map(str, args)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as at a terminal, even if this test runs where SIGINT is ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    marks = [Path(f"{mark}.{rank}") for rank in range(ranks)]
    deadline = time.monotonic() + 120
    while not all(m.exists() for m in marks):     # every rank is stepping
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started stepping"
        time.sleep(0.05)
    for m in marks:
        m.unlink()
    return proc, mark


@pytest.mark.parametrize("signum, status, ranks", [(signal.SIGINT, 130, 1),
                                                  (signal.SIGTERM, 75, 1),
                                                  (signal.SIGINT, 130, 2)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-mpiexec"])
def test_a_signal_writes_a_checkpoint_and_exits_in_one_line(tmp_path, signum, status, ranks):
    """Under mpiexec, the signal goes to mpiexec (which passes it on to every rank)."""
    ck, out = tmp_path / "ck", tmp_path / "out.nc"
    proc, _ = start(tmp_path, "-o", out, "--checkpoint", ck, ranks=ranks)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert f"stopped by {signum.name}" in err and f"--restart {ck}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    step = json.loads((ck / "latest.json").read_text())["step"]
    assert 0 < step < 365 and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    if ranks == 1 and signum == signal.SIGINT:      # the checkpoint resumes to the end
        r = subprocess.run([sys.executable, "-m", "paget", "run", "--restart", str(ck),
                            "--no-progress"], cwd=REPO, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert out.is_file()


@pytest.mark.parametrize("name", ["out.nc", "out.zarr"])
def test_ctrl_c_without_a_checkpoint_exits_130_and_leaves_nothing(tmp_path, name):
    proc, _ = start(tmp_path, "-o", tmp_path / name)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "paget: stopped by SIGINT (Ctrl-C); nothing written"
    assert list(tmp_path.iterdir()) == []       # no output, no temporary


# ---------------------------------------------------------------- first contact

def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"paget {version('paget')}"


def test_plural():
    assert [plural(1, "day"), plural(2, "day"), plural(1.0, "year"), plural(0.5, "year"),
            plural(0, "patient"), plural(2, "patient x arm", "patients x arms")] == \
        ["1 day", "2 days", "1 year", "0.5 years", "0 patients", "2 patients x arms"]


def test_messages_say_1_patient_and_1_day(tmp_path, capsys):
    from rich.console import Console

    from paget.cli import _run_with_progress
    cfg = tmp_path / "one.toml"
    cfg.write_text("[cohort]\npatients = 1\nyears = 0.05\n")
    assert main(["validate", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "(1 patient, 18 steps of 1 day," in out
    assert main(["run", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "paget: 1 patient, day 18" in out and "/1 patient " in out
    assert "patient(s)" not in out and "1 patients" not in out and "1 days" not in out
    sim = paget.Simulation({"cohort": {"patients": 1, "years": 1}}, entry_points=False)
    buf = io.StringIO()
    _run_with_progress(sim, lambda progress: progress(1), True, None,
                       Console(file=buf, force_terminal=True, width=120))
    assert "paget\x1b[0m 1 patient, 1 year " in buf.getvalue()


def test_help_says_missing_directories_are_not_created(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "its directory must exist (it is not created)" in text
    assert "DIR is created if missing, but its parent must exist" in text


def test_a_refused_restart_option_is_named_in_the_singular(tmp_path, capsys):
    ck = tmp_path / "ck"
    assert main([*RUN, "--checkpoint", str(ck), "--checkpoint-every", "5"]) == 0
    capsys.readouterr()
    assert main(["run", "--restart", str(ck), "--seed", "3", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--seed asks for another run" in err and "leave it out" in err
    assert main(["run", "--restart", str(ck), "--seed", "3", "--patients", "3",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--patients, --seed ask for another run" in err and "leave them out" in err
