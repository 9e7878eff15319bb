"""The printed report: sections of rows, rendered with rich when present, else plain text."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from . import TARGETS

__all__ = ["Section", "render", "target_status", "fmt_rate", "fmt_s", "fmt_bytes"]


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _bad(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_rate(x, unit: str = "/s") -> str:
    if _bad(x):
        return "n/a"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def fmt_s(x) -> str:
    if _bad(x):
        return "n/a"
    if x < 1e-6:
        return f"{x * 1e9:.1f} ns"
    if x < 1e-3:
        return f"{x * 1e6:.1f} us"
    if x < 1.0:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_bytes(x) -> str:
    if _bad(x):
        return "n/a"
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(x) >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{x:.0f} B"


def target_status(key: str, value) -> tuple[str, bool | None]:
    """('>= 5', True/False) for a key with a target; None when the value is missing."""
    op, thr = TARGETS[key]
    text = f"{op} {thr:g}"
    if _bad(value):
        return text, None
    return text, (value >= thr) if op == ">=" else (value <= thr)


def met_text(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def render(header: list[str], sections: list[Section], file=None, plain: bool = False) -> None:
    file = file or sys.stdout
    console = None
    if not plain:
        try:
            from rich.console import Console
            console = Console(file=file, width=max(100, _term_width()), highlight=False,
                              soft_wrap=False)
        except ImportError:  # pragma: no cover - rich is a dependency of paget
            console = None
    if console is not None:
        _render_rich(console, header, sections)
    else:
        _render_plain(file, header, sections)


def _term_width() -> int:
    import shutil
    return shutil.get_terminal_size((110, 40)).columns


def _render_rich(console, header, sections) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    console.rule("[bold]paget benchmarks")
    for line in header:
        console.print(escape(line))
    for sec in sections:
        console.print()
        table = Table(title=f"[bold]{escape(sec.title)}", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        for i, h in enumerate(sec.headers):
            table.add_column(escape(h), justify="left" if i == 0 else "right")
        for row in sec.rows:
            table.add_row(*[_style(escape(c)) for c in row])
        console.print(table)
        for note in sec.notes:
            console.print(f"  [dim]{escape(note)}[/]")


def _style(cell: str) -> str:
    if cell == "NOT MET":
        return "[bold red]NOT MET[/]"
    if cell == "met":
        return "[bold green]met[/]"
    return cell


def _render_plain(file, header, sections) -> None:
    print("=" * 30 + " paget benchmarks " + "=" * 30, file=file)
    for line in header:
        print(line, file=file)
    for sec in sections:
        print(file=file)
        print(sec.title, file=file)
        cols = [sec.headers] + sec.rows
        widths = [max(len(r[i]) for r in cols) for i in range(len(sec.headers))]
        for j, r in enumerate(cols):
            cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
            print("  " + "  ".join(cells), file=file)
            if j == 0:
                print("  " + "  ".join("-" * w for w in widths), file=file)
        for note in sec.notes:
            print(f"  {note}", file=file)
