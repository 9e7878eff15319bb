"""Coordination of the ranks of one run: how they learn of each other's failures,
of SIGTERM and SIGINT, and agree before going on."""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np

from .errors import ConfigError, PagetError, PluginError

_FAILED = 1
_SIGTERM = 2
_SIGINT = 4
_TAG_FAILED = 7201


class _Coordinator:
    """How the ranks of a run learn of each other's failures and of SIGTERM or SIGINT.

    Two regimes.  Without checkpoints ranks step independently; a rank that
    fails sends every other rank a one-byte message, which each polls for
    (``Iprobe``, well under a microsecond) after every step, so the job ends
    within a step of the failure and all ranks meet in one final
    ``allgather`` of errors.  With checkpoints the ranks agree once per step
    (``Allreduce`` of a flag word: failed, SIGTERM, SIGINT), so that all of them stop,
    or write a checkpoint, at the same step; a failing rank contributes its
    flag to the next agreement instead of sending messages.
    Rejected: ``MPI_Abort`` on failure (kills the job before the error can be
    reported by rank 0 and leaves a Python caller no exception to catch).
    """

    def __init__(self, comm, lockstep: bool, n_steps: int, messages: bool = False):
        self.comm = comm
        self.lockstep = lockstep
        #: failure messages in the lockstep regime too: ranks sharing patients
        #: meet in collectives within a step, where the agreement cannot reach
        self.messages = messages
        self.n_steps = n_steps
        self.synced = -1            # last step agreed on (lockstep)
        self.ctl = None             # duplicate communicator for failure messages
        self._sends: list = []
        self._notified = False
        self._term = False          # SIGTERM received (read at the next agreement)
        self._int = False           # SIGINT (Ctrl-C) received

    # -- set-up
    def agree(self, error: BaseException | None) -> None:
        """Collective check after set-up: if any rank failed, every rank raises."""
        if self.comm is None:
            if error is not None:
                raise error
            return
        _wait_quietly(self.comm)
        errors = self.comm.allgather(_describe(error, self.comm.Get_rank()))
        _raise_first(errors, error)

    def start(self, step: int) -> None:
        self.synced = step - 1
        if self.comm is not None and (self.messages or not self.lockstep):
            self.ctl = self.comm.Dup()

    # -- per step
    def sync(self, step: int, failed: bool = False) -> int:
        """Agree on the flags after ``step`` (lockstep regime)."""
        flags = ((_FAILED if failed else 0) | (_SIGTERM if self._term else 0)
                 | (_SIGINT if self._int else 0))
        if self.comm is not None:
            from mpi4py import MPI
            out = np.zeros(1, np.int32)
            self.comm.Allreduce(np.array([flags], np.int32), out, op=MPI.BOR)
            flags = int(out[0])
        self.synced = step
        return flags

    def peer_failed(self, step: int | None = None) -> bool:
        """Has another rank reported a failure? (by message)"""
        from mpi4py import MPI
        return self.ctl is not None and \
            bool(self.ctl.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_FAILED))

    def fail(self, notify: bool = True) -> None:
        """This rank failed while stepping: let the others know (``notify``: by
        message, where messages are used), and in the lockstep regime take
        part in the step's agreement with the failed flag."""
        if self.comm is None:
            return
        if notify and self.ctl is not None and not self._notified:
            me = self.comm.Get_rank()
            self._buf = np.ones(1, np.int8)
            self._sends = [self.ctl.Isend(self._buf, dest=r, tag=_TAG_FAILED)
                           for r in range(self.comm.Get_size()) if r != me]
            self._notified = True
        if self.lockstep and self.synced + 1 < self.n_steps:
            self.sync(self.synced + 1, failed=True)

    @contextmanager
    def catch_sigterm(self, enabled: bool):
        """While stepping, SIGTERM and SIGINT (Ctrl-C) only set a flag, read at
        the next agreement: every rank then writes a checkpoint at the same step
        and raises :class:`paget.checkpoint.Interrupted`.  A second SIGINT
        stops at once (``KeyboardInterrupt``), as an impatient Ctrl-C expects."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_term(signum, frame):
            self._term = True

        def on_int(signum, frame):
            if self._int:
                raise KeyboardInterrupt
            self._int = True

        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_term)}
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:   # (a background job's)
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_int)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # -- the end
    def finish(self, error: BaseException | None) -> None:
        """Collective: gather every rank's error; if any, raise on every rank."""
        if self.comm is None:
            if error is not None:
                raise error
            return
        from mpi4py import MPI
        me = self.comm.Get_rank()
        desc = _describe(error, me)
        if desc is not None:
            desc["notified"] = self._notified
        _wait_quietly(self.comm)
        errors = self.comm.allgather(desc)
        if self.ctl is not None:
            # receive the failure messages still pending, complete our own sends
            buf = np.zeros(1, np.int8)
            for e in errors:
                if e is not None and e["notified"] and e["rank"] != me:
                    self.ctl.Recv(buf, source=e["rank"], tag=_TAG_FAILED)
            MPI.Request.Waitall(self._sends)
            self.ctl.Free()
            self.ctl = None
        _raise_first(errors, error)


def on_every_rank(comm, make: Callable[[], Any]) -> Any:
    """``make()`` on this rank, collectively: if it raises on any rank of ``comm``,
    every rank raises (the failing one its own error, the others one naming it),
    so none is left waiting in a later collective.  Returns what ``make`` gave."""
    result, error = None, None
    try:
        result = make()
    except Exception as exc:
        error = exc
    _Coordinator(comm, lockstep=True, n_steps=0).agree(error)
    return result


def _wait_quietly(comm, poll_s: float = 0.002) -> None:
    """Until every rank of ``comm`` arrives here, without keeping a core busy.

    A rank that finishes early (fewer or smaller patients, or none) would
    otherwise wait in a blocking collective, which MPICH completes by polling
    at full speed: on a machine with no core to spare (a laptop, an
    oversubscribed node) that takes the CPU from the ranks still working.
    A non-blocking barrier tested every ``poll_s`` costs at most that much.
    """
    if comm.Get_size() == 1:
        return
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(poll_s)


def _describe(error: BaseException | None, rank: int) -> dict[str, Any] | None:
    if error is None:
        return None
    from .checkpoint import CheckpointError
    kind = ("checkpoint" if isinstance(error, CheckpointError) else
            "config" if isinstance(error, ConfigError) else
            "plugin" if isinstance(error, PluginError) else "other")
    return {"rank": rank, "kind": kind, "type": type(error).__name__, "message": str(error),
            "plugin": getattr(error, "plugin", None), "hook": getattr(error, "hook", None)}


def _raise_first(errors: list[dict[str, Any] | None], own: BaseException | None) -> None:
    """Raise this rank's own error, or one like the first other rank's."""
    if own is not None:
        raise own
    failed = [e for e in errors if e is not None]
    if not failed:
        return
    from .checkpoint import CheckpointError
    e = failed[0]
    if e["kind"] == "checkpoint":
        raise CheckpointError(e["message"])
    if e["kind"] == "config":
        raise ConfigError(e["message"])
    if e["kind"] == "plugin":
        raise PluginError(f"rank {e['rank']}: {e['message']}", e["plugin"], e["hook"])
    raise PagetError(f"rank {e['rank']} failed: {e['type']}: {e['message']}")
