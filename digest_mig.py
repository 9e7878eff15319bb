"""Digest of several small runs' datasets (all but date_created/history), to check
that a refactor leaves results bit-identical.  Usage: python /work/briefs/digest.py"""
import hashlib, sys
import numpy as np
import paget

NEW = ("migration_pattern", "site_seeding_clones", "seeding_edge")


def digest(ds):
    """As /work/briefs/digest_np.py, without what the seeding log adds (its
    variables, migration_pattern, site_seeding_clones, output.seeding_graph)."""
    import json
    h = hashlib.sha256()
    ds = ds.drop_vars([v for v in ds.variables if v.startswith("seeding_") or v in NEW])
    cfg = json.loads(ds.attrs["config_json"])
    cfg.get("output", {}).pop("seeding_graph", None)
    ds.attrs["config_json"] = json.dumps(cfg, sort_keys=True)
    for a in ("date_created", "history", "plugins"):
        ds.attrs.pop(a, None)
    for k in sorted(ds.attrs):
        h.update(f"{k}={ds.attrs[k]!r}".encode())
    for name in sorted(ds.variables):
        v = ds[name]
        h.update(name.encode()); h.update(repr(sorted(v.attrs.items())).encode())
        h.update(repr(v.dims).encode()); h.update(np.ascontiguousarray(v.values).tobytes())
    return h.hexdigest()[:16]

runs = {
    "default 30x3y": lambda: paget.Simulation.from_scenario("default", {"seed": 7, "cohort": {"patients": 30, "years": 3}}),
    "breast 10x5y": lambda: paget.Simulation.from_scenario("breast", {"seed": 3, "cohort": {"patients": 10, "years": 5}}),
    "lung 8x4y": lambda: paget.Simulation.from_scenario("lung", {"seed": 5, "cohort": {"patients": 8, "years": 4}}),
    "assay_luzzi": lambda: paget.Simulation.from_scenario("assay_luzzi", {"seed": 2, "cohort": {"patients": 3}}),
}
for name, make in runs.items():
    print(f"{name:>16}: {digest(make().run())}", flush=True)
