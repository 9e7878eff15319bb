"""The README's figure: one virtual patient's metastatic spread, organ by organ.

Usage: ``python examples/readme_figure.py [OUT.png]`` (default: a temporary
file).  The README's copy is ``docs/_static/spread.png``, made with
``python examples/readme_figure.py docs/_static/spread.png``.
"""
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import paget  # noqa: E402

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "spread.png"

# A generic breast primary of 1e7 cells, followed for 8 years; every other
# value is a documented default.  Seed chosen once, not searched for.
ds = paget.Simulation({"seed": 3, "cohort": {"patients": 1, "years": 8},
                       "primary": {"cells": 1e7}}).run()
p = ds.isel(patient=0)
years = p.time / 365.25

import json  # noqa: E402

detectable = json.loads(ds.attrs["config_json"])["outcome"]["detectable_cells"]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
colors = plt.get_cmap("tab10").colors
growing = [o for o in p.organ.values if float(p.tumor_cells.sel(organ=o).max()) > 0]
for i, organ in enumerate(growing):
    cells = p.tumor_cells.sel(organ=organ)
    top.semilogy(years, cells.where(cells > 0), lw=2, color=colors[i % 10],
                 label=f"{organ} (lesions)")
dormant = p.dormant_cells.sum("organ")
top.semilogy(years, dormant.where(dormant > 0), lw=1.5, ls=":", color="black",
             label="dormant cells, all organs")
top.axhline(detectable, color="grey", lw=0.8, ls="--")
top.text(0.02, detectable * 1.3, "detectable lesion (5 mm)", color="grey", fontsize=8)
top.set_ylabel("tumour cells")
top.legend(fontsize=8, loc="center right")
top.set_title("One virtual patient: a breast primary seeds the body (paget, default model)")
shed = p.ctc_shed.sum("organ")
bottom.bar(years, shed, width=30 / 365.25, color="firebrick")
bottom.set_yscale("log")
bottom.set_ylabel("CTCs shed / 30 d")
bottom.set_xlabel("years")
fig.tight_layout()
fig.savefig(out, dpi=110)
assert out.exists() and out.stat().st_size > 10_000
assert len(growing) > 1, "the primary should have seeded at least one other organ"
print(f"wrote {out}")
