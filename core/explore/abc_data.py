"""The data table of ``paget calibrate``: observed shares of patients per organ, and anchors."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from ..errors import ConfigError, PathError, plural

__all__ = ["ANCHORS", "read_data"]

#: data columns other than organs: (what they are, units, allowed range)
ANCHORS = {"sites": ("mean number of organs with a metastasis per patient", "1",
                     (0.0, math.inf)),
           "ctc_positive": ("share of patients whose last CellSearch draw (at death or "
                            "the end of follow-up) is positive", "1", (0.0, 1.0)),
           "ctc_per_7_5ml": ("median CTC per 7.5 mL of blood at the last draw (at death "
                             "or the end of follow-up)", "1", (0.0, math.inf))}


def read_data(path: str | os.PathLike, organs: list[str] | None = None) -> dict[str, float]:
    """Read a data table: a header of columns (organs or :data:`ANCHORS`) and one row
    of observed values; lines starting with ``#`` are comments.

    With a first column ``scenario``, each row holds the observations of one
    scenario (a built-in name or a CONFIG.toml), all fitted at once (an empty
    cell: not observed there); the keys are then ``"scenario:column"``.

    Returns
    -------
    dict
        ``{column: value}``, or ``{"scenario:column": value}`` with a scenario column.

    Raises
    ------
    paget.ConfigError
        One line: a missing file, unknown columns (named, with the known ones), a
        value that is not a number or outside its allowed range (shares: [0, 1]).
    """
    from ..body import ORGANS
    organs = list(organs or ORGANS)
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PathError(f"--data {name!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PathError(f"--data {name!r}: cannot be read ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = [[v.strip() for v in r] for r in csv.reader(io.StringIO("\n".join(lines)))]
    header = rows[0] if rows else []
    per_scenario = bool(header) and header[0] == "scenario"
    if len(rows) < 2 or (len(rows) != 2 and not per_scenario):
        raise ConfigError(f"--data {name!r}: needs a header and exactly one row of values "
                          f"(or a first column 'scenario' and a row per scenario), found "
                          f"{plural(max(len(rows) - 1, 0), 'row')}")
    columns = header[1:] if per_scenario else header
    unknown = [h for h in columns if h not in organs and h not in ANCHORS]
    if unknown:
        raise ConfigError(f"--data {name!r}: unknown {'column' if len(unknown) == 1 else 'columns'}"
                          f" {', '.join(repr(u) for u in unknown)}; columns are organs ("
                          f"{', '.join(organs)}) or anchors ({', '.join(ANCHORS)})")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ConfigError(f"--data {name!r}: column {', '.join(map(repr, dup))} given twice")
    out: dict[str, float] = {}
    seen = []
    for row in rows[1:]:
        if len(row) != len(header):
            raise ConfigError(f"--data {name!r}: a row has {plural(len(row), 'value')} for "
                              f"{plural(len(header), 'column')}")
        prefix = ""
        if per_scenario:
            scen = row[0]
            if not scen or ":" in scen or scen in seen:
                raise ConfigError(f"--data {name!r}: scenario = {scen!r}: each row needs its "
                                  f"own scenario (a name or CONFIG.toml, without ':')")
            seen.append(row[0])
            prefix = f"{scen}:"
            row = row[1:]
        for h, v in zip(columns, row):
            if per_scenario and v == "":
                continue
            where = f"{prefix}{h}" if per_scenario else h
            try:
                x = float(v)
            except ValueError:
                raise ConfigError(f"--data {name!r}: {where} = {v!r}: not a number") from None
            lo, hi = ANCHORS[h][2] if h in ANCHORS else (0.0, 1.0)
            if not (math.isfinite(x) and lo <= x <= hi):
                what = "a share of patients" if h not in ANCHORS else ANCHORS[h][0]
                rng = f"within [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                raise ConfigError(f"--data {name!r}: {where} = {v}: {what} must be {rng}")
            out[prefix + h] = x
    if not out:
        raise ConfigError(f"--data {name!r}: holds no observed value")
    return out
