"""Regenerate every figure of the validation report with one command.

Run from the repository root, after any change to the shared body or a
scenario (about 2 hours on 2 cores at 200 patients: the three lanes ~33 minutes,
then the full-model cross-validation and each of its seed replicates ~35,
measured on 2026-12-07)::

    python docs/validation/regenerate.py --patients 200

It runs the scripts that write ``docs/validation/results/`` in three lanes, side
by side, and then renders the page from their results:

* lane 1: the level relation (``level.py``, which rewrites ``plugins/level.py``),
  then the leave-one-primary-out prediction on the committed body
  (``crossval.py --body committed``), which reads that relation;
* lane 2: the leave-one-primary-out cross-validation with each fold's body
  fitted by the stage-1 surrogate (``crossval.py --body surrogate``);
* lane 3: the calibrated scenarios against the autopsy table, the Luzzi assay
  and the liquid-biopsy anchors (``report.py``), the clinical time course
  (``clinical.py``, whose patient counts are set per target in its docstring)
  and the migration-history shares (``migration_shares.py``);
* then, alone: the leave-one-primary-out cross-validation with each fold's
  body fitted by full-model rounds (``crossval.py --body full``), whose rounds
  rewrite the scenario files for a while (and restore them), so nothing else
  may run beside it; then the same from each seed of ``REPLICATE_SEEDS``
  (``--replicate``: the fold fits' noise between seeds, which one run's
  bootstrap errors leave out; about 35 minutes each on 2 cores, measured on
  2026-12-07);
* last: ``report.py --reuse``, which writes ``docs/explanation/validation.md``
  and its figure from the saved results.

``--patients`` is the cohort per primary of the autopsy comparison, of each
cross-validation prediction and of the migration shares.  The calibration itself
(``calibrate.py``) is not rerun: it changes the model, and its sequence of rounds
is documented in its docstring.  Each step's output goes to a log file under
``--logs``; a failing step stops its lane, the others finish, and the command
exits 1 naming it (the page is then not rendered).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


#: patients per organ and rate of the committed level relation (level.py; 5 organs,
#: so 240 per rate) and per training organ and rate of each full-model fold's
#: relation (crossval.py --grid-patients; 4 training rows, so 192 per rate).  Each
#: relation runs one sample of patients through every rate (common random numbers),
#: so its error is an offset of the whole curve that more rates cannot average
#: away, and the patients' log-normal shedding (sigma 1) makes a sample's sites per
#: patient heavy-tailed: at 8 and 12 (40 and 48 per rate) the folds' predictions of
#: prostate and pancreas missed the sites per patient their relation promised by
#: -17 % and +24 % (results/crossval.json of commit bf331d6), and at 16 and 24 (80
#: and 96 per rate) prostate's by -38 % and pancreas's by +15 % (commit 96632ff);
#: every carcinoma run a user makes reads the committed relation, so it is made
#: three times as large as at 16 (error / sqrt(3))
LEVEL_PATIENTS, FOLD_GRID_PATIENTS = 48, 48


def lanes(patients: int) -> list[list[list[str]]]:
    """The scripts' command lines (relative to ``docs/validation``), by lane."""
    n = str(patients)
    return [
        [["level.py", "--patients", str(LEVEL_PATIENTS)],
         ["crossval.py", "--body", "committed", "--patients", n]],
        [["crossval.py", "--body", "surrogate", "--patients", n, "--grid-patients", "4"]],
        [["report.py", "--patients", n],
         ["clinical.py"],
         ["migration_shares.py", "--patients", n]],
    ]


#: the seeds of the full-model cross-validation's replicates (the main run's is
#: crossval.py's default, 808).  A run from seed s draws its cohorts from seeds s
#: to s + 5,003 (crossval.py adds 1000 x fold + round for a fold's rounds, 100 x
#: fold for its level grid), so runs 10,000 apart share no cohort's seed
REPLICATE_SEEDS = (10808, 20808)


def alone(patients: int) -> list[list[str]]:
    """The steps run after the lanes, one after the other with nothing beside
    them: the full-model cross-validation, then its seed replicates."""
    full = ["crossval.py", "--body", "full", "--patients", str(patients),
            "--grid-patients", str(FOLD_GRID_PATIENTS)]
    return [full, *([*full, "--seed", str(s), "--replicate"] for s in REPLICATE_SEEDS)]


FINAL = ["report.py", "--reuse"]


def _log_name(cmd: list[str]) -> str:
    tags = {"committed": "_committed", "surrogate": "_surrogate", "full": "_full",
            "--reuse": "_reuse"}
    seed = f"_seed{cmd[cmd.index('--seed') + 1]}" if "--seed" in cmd else ""
    return Path(cmd[0]).stem + "".join(t for k, t in tags.items() if k in cmd) + seed + ".log"


def run_step(cmd: list[str], logs: Path) -> tuple[int, float]:
    """Run one script from the repository root; (exit status, seconds)."""
    t0 = time.perf_counter()
    with open(logs / _log_name(cmd), "w") as log:
        rc = subprocess.call([sys.executable, "-u", str(HERE / cmd[0]), *cmd[1:]],
                             cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return rc, time.perf_counter() - t0


def run_lane(steps: list[list[str]], logs: Path, say) -> list[str]:
    """Run a lane's steps in order; the failed steps' names (the lane stops at one)."""
    for cmd in steps:
        say(f"start  {' '.join(cmd)}")
        rc, s = run_step(cmd, logs)
        say(f"{'done' if rc == 0 else 'FAILED'}   {' '.join(cmd)} ({s / 60:.1f} min"
            f"{'' if rc == 0 else f', exit status {rc}, log {logs / _log_name(cmd)}'})")
        if rc != 0:
            return [" ".join(cmd)]
    return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=200,
                    help="patients per primary (autopsy comparison, cross-validation, "
                         "migration shares); at least 1")
    ap.add_argument("--logs", type=Path, default=Path("regenerate-logs"),
                    help="folder for each step's output (created)")
    ap.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    a = ap.parse_args(argv)
    if a.patients < 1:
        ap.error(f"--patients must be at least 1 (got {a.patients})")
    plan = lanes(a.patients)
    if a.dry_run:
        for i, lane in enumerate(plan, 1):
            for cmd in lane:
                print(f"lane {i}: python docs/validation/{' '.join(cmd)}")
        for cmd in alone(a.patients):
            print(f"alone:  python docs/validation/{' '.join(cmd)}")
        print(f"last:   python docs/validation/{' '.join(FINAL)}")
        return 0
    a.logs.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def say(msg):
        print(f"[{(time.perf_counter() - t0) / 60:5.1f} min] {msg}", flush=True)

    with ThreadPoolExecutor(len(plan)) as ex:
        failed = [f for fs in ex.map(lambda lane: run_lane(lane, a.logs, say), plan) for f in fs]
    if failed:
        print(f"regenerate: {len(failed)} step{'s' if len(failed) > 1 else ''} failed: "
              f"{'; '.join(failed)}; docs/explanation/validation.md not rendered",
              file=sys.stderr)
        return 1
    for cmd in (*alone(a.patients), FINAL):
        say("start  " + " ".join(cmd))
        rc, s = run_step(cmd, a.logs)
        say(f"{'done' if rc == 0 else 'FAILED'}   {' '.join(cmd)} ({s / 60:.1f} min)")
        if rc != 0:
            print(f"regenerate: {' '.join(cmd)} failed (exit status {rc}); see "
                  f"{a.logs / _log_name(cmd)}", file=sys.stderr)
            return 1
    say("done: docs/explanation/validation.md and docs/validation/results/ regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
