"""Meta-tests: the generated reference covers the whole public surface.

The reference pages of the docs are generated from the code at build time by
``docs/_ext/paget_docs.py``; these tests call its generators directly (fast, no
Sphinx needed) and check them against the code, found independently here: every
hook with its exact signature, every CLI subcommand and option, every config key
(recursively, plugin tables included), every output variable.  The last test
builds the whole site with ``-W`` (warnings are errors) when Sphinx is installed.
"""
from __future__ import annotations

import argparse
import os
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from pydantic import BaseModel, Field

import paget
import paget.cli
import paget.hookspecs
from paget.output import COORDS, VARIABLES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_generators():
    spec = importlib.util.spec_from_file_location("paget_docs", DOCS / "_ext" / "paget_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = _load_generators()


@pytest.fixture(scope="module")
def hooks_page() -> str:
    return gen.hooks_reference()


@pytest.fixture(scope="module")
def cli_page() -> str:
    return gen.cli_reference()


@pytest.fixture(scope="module")
def config_page() -> str:
    return gen.config_reference()


@pytest.fixture(scope="module")
def output_page() -> str:
    return gen.output_reference()


# ------------------------------------------------------------------ hooks

def _hook_names() -> list[str]:
    """Hooks as pluggy sees them: what a plugin can implement."""
    pm = pluggy.PluginManager("paget")
    pm.add_hookspecs(paget.hookspecs)
    return sorted(n for n in dir(pm.hook) if n.startswith("paget_"))


def test_there_are_hooks():
    assert {"paget_config_tables", "paget_intravasation", "paget_growth"} <= set(_hook_names())


@pytest.mark.parametrize("name", _hook_names())
def test_every_hook_is_documented_with_its_exact_signature(name, hooks_page):
    func = getattr(paget.hookspecs, name)
    signature = f"{name}{inspect.signature(func)}"
    assert f".. autofunction:: paget.hookspecs.{signature}\n" in hooks_page
    assert inspect.getdoc(func), f"hook {name} has no docstring for plugin authors"


def test_firstresult_hooks_say_so(hooks_page):
    for name in _hook_names():
        func = getattr(paget.hookspecs, name)
        if func.paget_spec.get("firstresult"):
            after = hooks_page.split(f"paget.hookspecs.{name}(", 1)[1].split(".. autofunction::")[0]
            assert "firstresult=True" in after, name


# -------------------------------------------------------------------- CLI

def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = paget.cli._parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert subs, "paget's parser has no subcommands"
    return dict(subs[0].choices)


def _section(page: str, title: str) -> str:
    """The body of the section headed ``title`` (up to the next heading)."""
    m = re.search(rf"^{re.escape(title)}\n=+\n(.*?)(?=^\S[^\n]*\n=+\n|\Z)", page, re.M | re.S)
    assert m, f"no section {title!r} in the CLI reference"
    return m.group(1)


def test_every_subcommand_has_a_section(cli_page):
    for name in _subcommands():
        assert f"usage: paget {name}" in _section(cli_page, f"paget {name}")
    for name in _subcommands():
        assert name in _section(cli_page, "paget")


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_option_of_every_subcommand_is_documented(command, cli_page):
    section = _section(cli_page, f"paget {command}")
    for action in _subcommands()[command]._actions:
        names = action.option_strings or [action.metavar or action.dest]
        for opt in names:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", section), \
                f"paget {command}: {opt} missing from the CLI reference"
        if action.help and action.help != argparse.SUPPRESS:
            first_words = " ".join(action.help.split()[:3])
            assert first_words in " ".join(section.split()), (command, action.help)


# ----------------------------------------------------------------- config

def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _keys(ann, f"{prefix}{name}.")
    return out


def _is_table(model, key) -> bool:
    for part in key.split("."):
        model = model.model_fields[part].annotation
    return isinstance(model, type) and issubclass(model, BaseModel)


def test_every_config_key_is_documented(config_page):
    model = paget.Simulation({}, entry_points=False).config_model
    keys = _keys(model)
    assert {"seed", "cohort.patients", "intravasation.rate", "colonization.growth.law"} <= set(keys)
    for key in keys:
        if _is_table(model, key):
            assert f"\n[{key}]\n---" in config_page, f"table [{key}] missing"
        else:
            assert f"   * - ``{key}``\n" in config_page, f"key {key} missing"


def test_every_config_key_shows_its_default_and_description(config_page):
    model = paget.Simulation({}, entry_points=False).config_model
    for key in _keys(model):
        if _is_table(model, key):
            continue
        row = config_page.split(f"   * - ``{key}``\n", 1)[1].split("   * - ")[0]
        cells = [c.strip() for c in row.split("     - ")[1:]]
        assert len(cells) == 4, (key, cells)        # type, default, allowed, description
        assert all(cells[i] for i in (0, 1, 3)), (key, cells)


def test_a_third_party_plugin_table_is_documented_too():
    class ExampleTable(paget.config.Table):
        """Parameters of an example plugin."""
        strength: float = Field(0.5, ge=0, le=1, description="how strong")

    class Plugin:
        @paget.hookimpl
        def paget_config_tables(self):
            return {"example": ExampleTable}

    model = paget.Simulation({}, plugins=[("example", Plugin())], entry_points=False).config_model
    page = gen.config_reference(model)
    assert "\n[example]\n---" in page and "``example.strength``" in page
    assert "[0, 1]" in page.split("``example.strength``")[1].split("* -")[0]


def test_bounds_and_types_read_like_the_validation():
    from paget.config import CohortTable
    years = CohortTable.model_fields["years"]
    assert gen.format_bounds(years.annotation, years.metadata) == "(0, 200], finite"
    assert gen.format_type(years.annotation) == "number"
    assert gen.format_value({"default": 0.1, "liver": 0.8}) == "{default = 0.1, liver = 0.8}"


# ----------------------------------------------------------------- output

def _rows(page: str) -> dict[str, list[str]]:
    rows = {}
    for chunk in page.split("\n   * - ")[1:]:
        cells = [c.strip() for c in chunk.split("\n     - ")]
        rows[cells[0].strip("`")] = [c.split("\n\n")[0].strip() for c in cells[1:]]
    return rows


@pytest.mark.parametrize("name", [*COORDS, *VARIABLES])
def test_every_output_variable_is_documented_with_dims_and_units(name, output_page):
    var = {**COORDS, **VARIABLES}[name]
    dims, units, dtype, long_name = _rows(output_page)[name]
    assert all(d in dims for d in var.dims)
    assert units == f"``{var.units}``" and dtype == f"``{var.dtype}``"
    assert " ".join(long_name.replace("\\", "").split()) == " ".join(var.long_name.split())


def test_a_real_dataset_matches_the_output_reference(busy_dataset, output_page):
    documented = _rows(output_page)
    for name, da in busy_dataset.variables.items():
        assert name in documented, f"{name} is in the output but not in the reference"
        assert f"``{da.attrs['units']}``" == documented[name][1]


# --------------------------------------------------------------- the build

def test_readme_links_into_the_docs_exist():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\]\(((?:docs|examples)/[^)#]+)", section)
    assert links, "the README's Documentation section links into docs/"
    for link in links:
        assert (ROOT / link).exists(), link


def test_the_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                           "-b", "html", "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    hooks_html = (out / "generated" / "hooks.html").read_text()
    for name in _hook_names():
        assert f'id="paget.hookspecs.{name}"' in hooks_html, name
    assert (out / "tutorial.html").exists() and (out / "howto" / "plugin.html").exists()


def test_the_tutorial_runs_as_written(tmp_path):
    """The tutorial's config, its `paget run`, then its Python blocks in order."""
    text = (DOCS / "tutorial.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    (tmp_path / "my.toml").write_text(next(b for lang, b in blocks if lang == "toml"))
    commands = [ln for lang, b in blocks if lang == "bash" for ln in b.splitlines()
                if ln.startswith("paget ")]
    assert "paget run my.toml -o first.nc" in commands
    for command in commands:
        args = command.split("#")[0].split()[1:]
        proc = subprocess.run([sys.executable, "-m", "paget", *args, *(
            ["--no-progress"] if args[0] == "run" else [])], cwd=tmp_path,
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stderr[-3000:])
    code = [b for lang, b in blocks if lang == "python"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        code = [b for b in code if "matplotlib" not in b]
    script = tmp_path / "tutorial.py"
    script.write_text("\n".join(code))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "first_seeding_time" in proc.stdout


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_the_engine_page_balances_hold():
    """The conservation check shown in docs/explanation/engine.md runs and holds."""
    (block,) = _python_blocks(DOCS / "explanation" / "engine.md")
    exec(compile(block, "engine.md", "exec"), {})


def test_the_readme_python_example_runs(tmp_path):
    """The README's Python example, on 5 patients instead of 50 to stay fast."""
    block = _python_blocks(ROOT / "README.md")[0]
    assert '"patients": 50' in block
    proc = subprocess.run([sys.executable, "-c", block.replace('"patients": 50', '"patients": 5')],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "cohort.nc").exists() and "cells" in proc.stdout


def test_every_plugin_module_has_a_section():
    import pkgutil

    import paget.plugins
    from paget.manager import DEFAULT_PLUGINS
    page = gen.plugins_reference()
    names = {n for n, _ in DEFAULT_PLUGINS} | {
        m.name for m in pkgutil.iter_modules(paget.plugins.__path__) if not m.name.startswith("_")}
    for name in names:
        assert f"\n{name}\n{'-' * len(name)}\n" in page, name
    for name, module in DEFAULT_PLUGINS:
        section = page.split(f"\n{name}\n{'-' * len(name)}\n", 1)[1]
        assert f":module: ``{module}``\n:loaded: by default\n" in section


def _doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts
                  and "generated" not in p.parts) + [ROOT / "README.md"]


def test_every_paget_command_in_the_docs_exists():
    """Commands shown in the docs use only subcommands and options paget has."""
    helps = {cmd: gen.cli_help([cmd]) for cmd in gen.cli_commands()}
    seen = 0
    for page in _doc_pages():
        for block in re.findall(r"```(?:bash|text)\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                m = re.search(r"(?:^|\s)paget (\w[\w-]*)(.*)", line.split("#")[0])
                if not m or line.lstrip().startswith(("paget:", "$ paget validate bad")):
                    continue
                cmd, rest = m.groups()
                assert cmd in helps, f"{page.name}: paget {cmd} does not exist"
                for opt in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", rest):
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", helps[cmd]), \
                        f"{page.name}: paget {cmd} has no option {opt}"
                seen += 1
    assert seen > 10


def test_the_restart_guide_is_listed_exactly_when_paget_can_restart():
    toctree = gen.howto_toctree(DOCS)
    assert ("/howto/restart" in toctree) == ("--restart" in gen.cli_help(["run"]))
    assert "/howto/cluster" in toctree and "/howto/plugin" in toctree
