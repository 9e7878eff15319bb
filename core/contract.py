"""The per-step hooks' outputs declared once: name, neutral value, range, units, meaning.

Every array a per-step hook fills in place (the rates of :class:`paget.state.Rates`,
``paget_removal``'s ``fraction``, ``paget_extravasation``'s ``probability``,
``paget_dtc_fate``'s ``fates`` and ``paget_outcome``'s ``dying``) is declared here, once, as an :class:`Output`.
Generated from :data:`OUTPUTS`:

* the fields of :class:`paget.state.Rates` and their neutral values
  (:data:`RATES`, in field order);
* the checks the plugin manager runs after every hook implementation
  (:func:`hook_outputs`, ``paget.manager.HOOK_OUTPUTS``): a NaN, an infinity or
  a value outside the declared range is a :class:`paget.PluginError` naming the
  plugin;
* the neutral arrays the engine hands to ``paget_removal``,
  ``paget_extravasation``, ``paget_dtc_fate`` and ``paget_outcome``
  (:func:`neutral`);
* the "Outputs" paragraph of each hook's docstring in :mod:`paget.hookspecs`, and
  so the hook reference of the documentation (:func:`outputs_text`).

:data:`STEP_HOOKS` is the order in which the engine calls the per-step hooks;
the check of plugins' state reads (:func:`paget.model.check_state_reads`) uses it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Output", "OUTPUTS", "RATES", "STEP_HOOKS", "hook_outputs", "neutral",
           "outputs_text"]

_INF = float("inf")


@dataclass(frozen=True)
class Output:
    """One array a per-step hook fills in place.

    Parameters
    ----------
    name : str
        ``rates.<name>`` when ``arg`` is ``"rates"``, else the hook's argument.
    hook : str
        The hook that sets it.
    neutral : float, bool or tuple
        The value the engine fills it with before the hook's first
        implementation (a tuple: along the last axis).
    lo, hi : float
        Allowed range, inclusive; NaN and infinities are never allowed.
    units : str
        UDUNITS-style units (``"1"``: dimensionless).
    dtype : {"float64", "bool"}
    meaning : str
        One line for the hook reference.
    arg : str
        The hook argument that holds it: ``"rates"`` (a :class:`paget.state.Rates`
        attribute) or the array itself (``name``).
    shape : str
        Its shape, in the words of the hook reference.
    """

    name: str
    hook: str
    neutral: float | bool | tuple[float, ...]
    lo: float
    hi: float
    units: str
    dtype: str
    meaning: str
    arg: str = "rates"
    shape: str = "(n_rows,)"

    @property
    def label(self) -> str:
        """How a hook names it: ``rates.birth``, ``fraction``."""
        return f"{self.arg}.{self.name}" if self.arg == "rates" else self.name


def _rate(name, hook, neutral, lo, hi, units, meaning, dtype="float64") -> Output:
    return Output(name, hook, neutral, lo, hi, units, dtype, meaning)


#: Every output of every per-step hook; the rates in :class:`paget.state.Rates`'s field order.
OUTPUTS: tuple[Output, ...] = (
    _rate("invasive", "paget_invasion", 1.0, 0.0, 1.0, "1",
          "fraction of a lesion's cells able to leave it (EMT, hypoxia); read by "
          "intravasation"),
    _rate("shed", "paget_intravasation", 0.0, 0.0, _INF, "CTC/day",
          "rate at which a lesion releases cells into the circulation at the start of the "
          "step; the kernel draws Poisson(the rate integrated over the step, see "
          "shed_exponent) and removes the shed cells from the lesion"),
    _rate("shed_exponent", "paget_intravasation", 0.0, 0.0, _INF, "1",
          "exponent alpha with which the row's shedding follows its cells through the step "
          "(shed ~ N^alpha): under the step's growth at g = birth - death the mean count is "
          "shed (e^(alpha g dt) - 1) / (alpha g), not shed dt (0: shed held over the step)"),
    _rate("lymph_fraction", "paget_intravasation", 0.0, 0.0, 1.0, "1",
          "share of the shed cells that enter lymph instead of blood"),
    _rate("direct_fraction", "paget_intravasation", 0.0, 0.0, 1.0, "1",
          "share of the shed cells that take a direct route instead of blood or lymph "
          "(a serosal cavity: their fates are the fate matrix's ``direct`` rows); "
          "lymph_fraction + direct_fraction <= 1"),
    _rate("birth", "paget_growth", 0.0, 0.0, _INF, "1/day",
          "per-cell division rate of a growing row, held for the step"),
    _rate("death", "paget_growth", 0.0, 0.0, _INF, "1/day",
          "per-cell death rate of a growing row, held for the step"),
    _rate("deterministic", "paget_growth", False, 0.0, 1.0, "1",
          "take the mean n exp((birth - death) dt) instead of the exact birth-death "
          "transition (Kendall 1948)", dtype="bool"),
    _rate("reactivation", "paget_dormancy", 0.0, 0.0, _INF, "1/day",
          "per-cell rate at which a dormant pool's cells start to proliferate, each founding "
          "a one-cell lesion (a competing risk with dormant_death)"),
    _rate("dormant_death", "paget_dormancy", 0.0, 0.0, _INF, "1/day",
          "per-cell death rate of a dormant pool's cells"),
    _rate("mutation", "paget_growth", 0.0, 0.0, 1.0, "1",
          "probability per division that a daughter carries a new alteration; it founds a "
          "new clone, a new row of the same lesion (see paget_mutation)"),
    _rate("ctc_survival", "paget_circulation", 1.0, 0.0, _INF, "1",
          "multiplier of the per-pass survival probability of the CTCs the row sheds"),
    _rate("ctc_arrest", "paget_circulation", 1.0, 0.0, _INF, "1",
          "multiplier of the per-pass arrest probability of the CTCs the row sheds"),
    Output("fraction", "paget_removal", 0.0, 0.0, 1.0, "1", "float64",
           "share of each row's cells taken out of the body now (surgical resection, a "
           "biopsy, ablation)", arg="fraction"),
    Output("probability", "paget_extravasation", 1.0, 0.0, 1.0, "1", "float64",
           "probability that a CTC shed by sources row i and arrested in organ j crosses the "
           "endothelium there (the others die in the capillary bed)", arg="probability",
           shape="(m, n_organs)"),
    Output("fates", "paget_dtc_fate", (0.0, 0.0, 1.0), 0.0, 1.0, "1", "float64",
           "probabilities of (die, stay dormant, start growing) of a cell shed by sources "
           "row i that has just extravasated in organ j, summing to 1 along the last axis",
           arg="fates", shape="(m, n_organs, 3)"),
    Output("dying", "paget_outcome", False, 0.0, 1.0, "1", "bool",
           "the patient dies at t_end (ignored for a patient already dead)", arg="dying",
           shape="(n_patients,)"),
)

#: The outputs held by :class:`paget.state.Rates`, in its field order.
RATES: tuple[Output, ...] = tuple(o for o in OUTPUTS if o.arg == "rates")

#: The per-step hooks in the order the engine calls them in a step
#: (``paget_mutation`` is called by the kernel's new clones, between
#: ``paget_circulation`` and ``paget_extravasation``; it reads no state).
STEP_HOOKS: tuple[str, ...] = (
    "paget_update_state", "paget_removal", "paget_invasion", "paget_intravasation",
    "paget_growth", "paget_dormancy", "paget_circulation", "paget_extravasation",
    "paget_dtc_fate", "paget_outcome")


#: the outputs that are not rates, by name (the engine keeps one buffer of each
#: per name and shape and resets it each step: :func:`neutral`)
_ARRAYS = {o.name: o for o in OUTPUTS if o.arg != "rates"}


def hook_outputs() -> dict[str, tuple[tuple[str, str | None, float, float], ...]]:
    """Per hook: ``(argument, attribute or None, lo, hi)`` of each numeric output, to
    check after every implementation."""
    out: dict[str, list[tuple[str, str | None, float, float]]] = {}
    for o in OUTPUTS:
        if o.dtype == "bool":      # no value of a bool is out of range
            continue
        out.setdefault(o.hook, []).append(
            (o.arg, o.name if o.arg == "rates" else None, o.lo, o.hi))
    return {hook: tuple(checks) for hook, checks in out.items()}


#: per output: (dtype, neutral value; a tuple's as an array, to broadcast)
_NEUTRAL = {name: (np.dtype(o.dtype), np.array(o.neutral, dtype=o.dtype)
                   if isinstance(o.neutral, tuple) else o.neutral)
            for name, o in _ARRAYS.items()}


#: (output, trailing shape) -> its neutral value broadcast to that shape, read-only
#: (:func:`neutral`; a run asks for one or two, at most :data:`_MAX_BLOCKS` are kept)
_BLOCKS: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
_MAX_BLOCKS = 64


def neutral(name: str, shape: int | tuple[int, ...], buffers: dict | None = None) -> np.ndarray:
    """An array of output ``name`` (not a rate) at its neutral value.

    A new array; with ``buffers`` (a dict the caller keeps from step to step), a
    view of one block per name kept there and grown as needed (to twice its size
    at least, so its rows stay within twice the most a run asked for), set to
    the neutral value again, so a step allocates none (as
    :meth:`paget.state.Rates.neutral` reuses the rates' buffers: the engine hands
    each to the hooks of one step). The same shape as the last call gets the
    same view. Keeping an array per shape instead held up to 64 stale arrays
    of every output whose row count changes from step to step.
    """
    got = None if buffers is None else buffers.get(name)
    if got is not None and got[3] == shape:     # the usual: the last step's shape
        view, value = got[2], got[1]
        view[...] = value
        return view
    dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
    # the kept block has the same trailing axes: a view of it, or grown
    fits = got is not None and got[0].shape[1:len(dims)] == dims[1:]
    if fits and got[0].shape[0] >= dims[0]:
        block, value = got[0], got[1]
        view = block[:dims[0]]
        view[...] = value
        buffers[name] = (block, value, view, shape)
        return view
    dtype, value = _NEUTRAL[name]
    # grown: the rows it held at least doubled
    rows = max(dims[0], 2 * got[0].shape[0]) if fits else dims[0]
    if isinstance(value, np.ndarray):
        block = np.empty((rows,) + dims[1:] + value.shape, dtype=dtype)
        if block.ndim > value.ndim + 1:
            # a vector value (the fates' 3) broadcast by itself makes NumPy's inner
            # loop 3 long: filled from a block of the last two axes ((n_organs, 3)),
            # 5x faster for a step's (sources, n_organs, 3) fates
            key = (name, block.shape[-value.ndim - 1:])
            fill = _BLOCKS.get(key)
            if fill is None:
                if len(_BLOCKS) >= _MAX_BLOCKS:
                    _BLOCKS.clear()
                fill = _BLOCKS[key] = np.broadcast_to(value, key[1]).copy()
                fill.flags.writeable = False
            value = fill
    else:
        block = np.empty((rows,) + dims[1:], dtype=dtype)
    view = block[:dims[0]] if buffers is not None else block
    view[...] = value
    if buffers is not None:
        buffers[name] = (block, value, view, shape)
    return view


def _number(x: float) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, tuple):
        return "(" + ", ".join(_number(v) for v in x) + ")"
    return "inf" if x == _INF else f"{x:g}"


def describe(o: Output) -> str:
    """One line of the hook reference: type, range, units, neutral value, meaning."""
    if o.dtype == "bool":
        kind = "bool"
    else:
        right = ")" if o.hi == _INF else "]"
        units = "dimensionless" if o.units == "1" else o.units
        kind = f"float64 in [{_number(o.lo)}, {_number(o.hi)}{right}, {units}"
    return (f"``{o.label}``, shape ``{o.shape}``: {kind}; neutral value "
            f"{_number(o.neutral)}. {o.meaning[0].upper()}{o.meaning[1:]}.")


def outputs_text(hook: str, indent: str = "    ") -> str:
    """The generated "Outputs" paragraph of ``hook``'s docstring, its lines after
    the first indented by ``indent`` ("" if the hook has no outputs)."""
    mine = [o for o in OUTPUTS if o.hook == hook]
    if not mine:
        return ""
    lines = ["Outputs (declared in :data:`paget.contract.OUTPUTS`; the engine fills each "
             "with its neutral value before the first implementation, and checks the "
             "numbers after every implementation):", ""]
    lines += [f"* {describe(o)}" for o in mine]
    return f"\n{indent}".join(lines) + "\n"
