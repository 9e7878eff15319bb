"""A rank's state as plain arrays, for checkpoints and moves between ranks."""
from __future__ import annotations

import numpy as np

from ..state import LesionTable


class Snapshot:
    """:meth:`state_dict` and :meth:`load_state` of :class:`paget.engine.RankRun`."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array of this rank's state, for a checkpoint (no Python objects).

        Per-patient arrays have this rank's patients on axis 0 (``lo`` to
        ``hi``); lesion rows carry their patient, so a state can be re-split
        over another number of ranks (:func:`select_patients`).  In a group
        (collective) the first rank returns the group's whole state and the
        others a state of no patients (``lo = hi``).
        """
        def local() -> tuple[dict[str, np.ndarray], ...]:
            live = self.table.take(slice(None))
            archive = self.archive or [{k: v[:0] for k, v in live.items()}]
            archive = {k: np.concatenate([a[k] for a in archive]) for k in live}
            clones = {k: np.concatenate([c[k] for c in self.clones]) for k in self.clones[0]}
            return (live, archive, clones, *self._seeding_parts())

        if self.group is None:
            (live, archive, clones, edges, pools), acc, events = local(), self.acc, self.events
        else:
            # every rank assembles its part before the group's collectives and the
            # group agrees that all could, so that none is left waiting in them
            parts, failure = None, None
            try:
                parts = local()
            except Exception as exc:
                failure = exc
            self.group.raise_if_any_failed(failure, RuntimeError(
                "another rank of the group could not assemble its state"))
            live, archive, clones, edges, pools = (self.group.gather_rows(p) for p in parts)
            acc, events = self._summed_counters(), self._events()
        state: dict[str, np.ndarray] = {
            "lo": np.int64(self.lo), "hi": np.int64(self.hi),
            "next_step": np.int64(self.next_step), "next_record": np.int64(self.next_record),
            "alive": self.alive, "burden": self.burden,
            "last_shed": self.last_shed, "last_death": self.last_death,
        }
        for k, v in self.rec.items():
            state[f"rec.{k}"] = v
        for k, v in acc.items():
            state[f"acc.{k}"] = v
        for k, v in events.items():
            state[f"events.{k}"] = v
        for k, v in self.frozen.items():
            state[f"frozen.{k}"] = v
        for k, v in self.pstate.items():
            state[f"pstate.{k}"] = v
        for k in ("clone", "parent", "patient", "birth_step", "genotype", "lesion", "organ"):
            state[f"clones.{k}"] = clones[k]
        for k, v in live.items():
            state[f"table.{k}"] = v
        for k, v in archive.items():
            state[f"archive.{k}"] = v
        for k, v in edges.items():
            state[f"seeding.{k}"] = v
        for k, v in pools.items():
            state[f"pools.{k}"] = v
        state = {k: np.asarray(v) for k, v in state.items()}
        if not self.leader():
            state = select_patients([state], self.hi, self.hi)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state made by :meth:`state_dict` (or :func:`select_patients`)."""
        if int(state["lo"]) != self.lo or int(state["hi"]) != self.hi:
            raise ValueError(f"state holds patients [{int(state['lo'])}, {int(state['hi'])}), "
                             f"this rank owns [{self.lo}, {self.hi})")
        self.next_step = int(state["next_step"])
        self.next_record = int(state["next_record"])
        self.alive = np.array(state["alive"], dtype=bool)
        self.burden = np.array(state["burden"], dtype=np.float64)
        self.last_shed = np.array(state["last_shed"], dtype=np.int64)
        self.last_death = np.array(state["last_death"], dtype=np.float64)
        for group in ("rec", "acc", "events", "frozen", "pstate"):
            target = getattr(self, group)
            for k in target:
                target[k] = np.array(state[f"{group}.{k}"], dtype=target[k].dtype)
        extra = self.table.extra
        self.table = LesionTable(capacity=max(64, len(state["table.uid"])), extra=extra)
        self.table.append(**{k: state[f"table.{k}"] for k in self.table.columns})
        self.archive = [{k: np.array(state[f"archive.{k}"]) for k in self.table.columns}]
        self.clones = [{k: np.array(state[f"clones.{k}"]) for k in
                        ("clone", "parent", "patient", "birth_step", "genotype", "lesion", "organ")}]
        self._load_seeding(state)
        self._seeded = True
        if self.group is not None:
            # every rank of the group loaded the group's state: each keeps the rows
            # of its domains (dealt by rows, as the rebalancing would) and the
            # first rank the counters, archive and phylogeny, which the group
            # adds up or gathers again
            dom = self.domains
            dom.owner = dom.assign(np.bincount(self._row_domains(), minlength=dom.owner.size))
            self._compact(self._owned())
            if not self.leader():
                for a in self.acc.values():
                    a[:] = 0
                self.archive = [{k: v[:0] for k, v in self.archive[0].items()}]
                self.clones = [{k: v[:0] for k, v in self.clones[0].items()}]
                self.seeding = [{k: v[:0] for k, v in self.seeding[0].items()}]
                self.pools = [{k: v[:0] for k, v in self.pools[0].items()}]
        self._subclonal = bool(np.any(self.table.lesion != self.table.uid)
                               | np.any(self.archive[0]["lesion"] != self.archive[0]["uid"]))


def select_patients(states: list[dict[str, np.ndarray]], lo: int, hi: int) -> dict[str, np.ndarray]:
    """The state of patients ``[lo, hi)`` cut from rank states covering them.

    ``states`` are :meth:`RankRun.state_dict` results of consecutive patient
    blocks (any number of ranks); the result loads into the rank owning
    ``[lo, hi)`` of another decomposition.  Steps must agree.
    """
    states = sorted(states, key=lambda s: int(s["lo"]))
    first, last = int(states[0]["lo"]), int(states[-1]["hi"])
    for a, b in zip(states, states[1:]):
        if int(a["hi"]) != int(b["lo"]):
            raise ValueError("checkpoint shards do not cover consecutive patients")
    if lo < first or hi > last:
        raise ValueError(f"checkpoint holds patients [{first}, {last}), asked for [{lo}, {hi})")
    steps = {(int(s["next_step"]), int(s["next_record"])) for s in states}
    if len(steps) != 1:
        raise ValueError(f"checkpoint shards were written at different steps: {sorted(steps)}")
    out: dict[str, np.ndarray] = {"lo": np.int64(lo), "hi": np.int64(hi),
                                  "next_step": states[0]["next_step"],
                                  "next_record": states[0]["next_record"]}
    for key in states[0]:
        if key in out:
            continue
        if key.startswith(("table.", "archive.", "clones.", "seeding.", "pools.")):
            group = key.split(".", 1)[0]
            patient = np.concatenate([s[f"{group}.patient"] for s in states])
            values = np.concatenate([s[key] for s in states])
            out[key] = values[(patient >= lo) & (patient < hi)]
        else:  # per-patient arrays: patients on axis 0
            out[key] = np.concatenate([s[key] for s in states], axis=0)[lo - first: hi - first]
    return out
