"""Meta-tests: the generated reference covers the whole public surface.

The reference pages of the docs are generated from the code at build time by
``docs/_ext/paget_docs.py``; these tests call its generators directly (fast, no
Sphinx needed) and check them against the code, found independently here: every
hook with its exact signature, every CLI subcommand and option, every config key
(recursively, plugin tables included), every output variable.  The last test
builds the whole site with ``-W`` (warnings are errors) when Sphinx is installed.

Code samples in the docs (contributor note)
-------------------------------------------
Every fenced code block of ``docs/**/*.md`` and ``README.md`` is checked by
:func:`test_the_code_samples_of_each_page_run`: each page's blocks run in order
in one fresh temporary directory (a link ``examples`` there points at the
repository's), python blocks in one shared namespace (``examples/plugins`` on
``sys.path``, as a reader's ``PYTHONPATH`` would put it), bash blocks with
``bash -e``.  The info string after the language says what else to do:

* ```` ```python ```` / ```` ```bash ````: executed, so keep them small
  (a few patients, a year or a few) and under a minute on 2 cores;
* ```` ```toml file=NAME ````: written to ``NAME`` for the blocks after it
  (every ``toml`` block is parsed);
* ```` ```console ````: ``$ command`` lines are run and the lines after each
  must be exactly what it prints; ``$ echo $?`` checks the exit status;
* ```` ```LANG no-run: REASON ````: not executed (an ``mpiexec`` or Slurm job,
  a full-size run, an install), the reason stated; still syntax-checked
  (python: ``compile``; bash: ``bash -n``; toml: parsed);
* ```` ```text ````: output shown to the reader; not run.

The words after the language do not show in the rendered page.
"""
from __future__ import annotations

import argparse
import ast
import os
import importlib
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

from .helpers import validation_module

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


def _source_signatures() -> dict[str, str]:
    """Each hook specification's parameters, read from the source of
    ``paget.hookspecs`` with ``ast`` (independently of the generator's
    ``inspect.signature``): name -> ``ast.dump`` of its arguments."""
    tree = ast.parse(Path(paget.hookspecs.__file__).read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                "hookspec" in ast.unparse(d) for d in node.decorator_list):
            out[node.name] = ast.dump(node.args)
    return out


def _documented_signatures(page: str) -> dict[str, str]:
    """Each ``.. autofunction:: paget.hookspecs.NAME(ARGS)`` line of the hooks
    page, its ARGS parsed as a Python parameter list: name -> ``ast.dump``."""
    out = {}
    for m in re.finditer(r"^\.\. autofunction:: paget\.hookspecs\.(\w+)\((.*)\)$", page, re.M):
        name, params = m.groups()
        assert name not in out, f"hook {name} documented twice"
        out[name] = ast.dump(ast.parse(f"def {name}({params}): pass").body[0].args)
    return out


def _signature_mismatches(page: str) -> list[str]:
    source, documented = _source_signatures(), _documented_signatures(page)
    problems = [f"{n}: not documented" for n in sorted(source.keys() - documented.keys())]
    problems += [f"{n}: documented but not a hook" for n in sorted(documented.keys() - source)]
    problems += [f"{n}: documented parameters differ from the hookspec's"
                 for n in sorted(source.keys() & documented.keys()) if source[n] != documented[n]]
    return problems


def test_every_hook_is_documented_with_its_exact_signature(hooks_page):
    assert set(_source_signatures()) == set(_hook_names())    # the ast reading sees every hook
    assert _signature_mismatches(hooks_page) == []
    for name in _hook_names():
        assert inspect.getdoc(getattr(paget.hookspecs, name)), \
            f"hook {name} has no docstring for plugin authors"


def test_the_signature_check_catches_a_generator_that_drops_or_mangles_a_parameter(monkeypatch):
    real = gen.hook_signature

    def dropped(func):          # the last parameter of paget_extravasation lost
        sig = real(func)
        return sig.replace(", t)", ")") if func.__name__ == "paget_extravasation" else sig

    monkeypatch.setattr(gen, "hook_signature", dropped)
    assert _signature_mismatches(gen.hooks_reference()) == [
        "paget_extravasation: documented parameters differ from the hookspec's"]

    def renamed(func):          # a parameter renamed
        return real(func).replace("(sources,", "(source,")

    monkeypatch.setattr(gen, "hook_signature", renamed)
    assert "paget_extravasation: documented parameters differ from the hookspec's" in \
        _signature_mismatches(gen.hooks_reference())
    monkeypatch.undo()
    page = gen.hooks_reference()
    missing = re.sub(r"^\.\. autofunction:: paget\.hookspecs\.paget_dormancy\(.*\n", "", page,
                     flags=re.M)
    assert _signature_mismatches(missing) == ["paget_dormancy: not documented"]


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


def _units_cell(units: str) -> str:
    """The units cell the output reference shows: a literal, or a dash for none."""
    return f"``{units}``" if units else "\u2014"


@pytest.mark.parametrize("name", [*COORDS, *VARIABLES])
def test_every_output_variable_is_documented_with_dims_and_units(name, output_page):
    var = {**COORDS, **VARIABLES}[name]
    dims, units, dtype, long_name = _rows(output_page)[name]
    assert all(d in dims for d in var.dims)
    assert units == _units_cell(var.units) and dtype == f"``{var.dtype}``"
    assert " ".join(long_name.replace("\\", "").split()) == " ".join(var.long_name.split())


def test_a_real_dataset_matches_the_output_reference(busy_dataset, output_page):
    documented = _rows(output_page)
    for name, da in busy_dataset.variables.items():
        assert name in documented, f"{name} is in the output but not in the reference"
        assert _units_cell(da.attrs.get("units", "")) == documented[name][1], name


def test_string_variables_have_no_units_and_show_a_dash(output_page):
    """CF: a string variable has no ``units``; the reference shows a dash, not empty markup."""
    rows = _rows(output_page)
    for name in ("organ", "lesion_organ", "clone_organ"):
        assert {**COORDS, **VARIABLES}[name].units == ""
        assert rows[name][1] == "\u2014", (name, rows[name][1])
    assert ":code:``" not in output_page


def test_the_output_reference_explains_time_and_provenance(output_page):
    from paget.output import RUN_ATTRS, TIME_UNITS
    text = " ".join(output_page.split())
    assert f"``{TIME_UNITS}``" in text and "nominal" in text
    assert "``paget.open_dataset(path)``" in text and "decode_times=False" in text
    for attr in ("scenario", *RUN_ATTRS):
        assert f"``{attr}``" in text, attr


def test_the_api_reference_lists_every_public_function_and_class():
    """What ``__all__`` exports is on the API page (e.g. ``paget.open_dataset``)."""
    import paget.analysis
    import paget.plot
    page = (DOCS / "reference" / "api.md").read_text()
    for module in (paget, paget.analysis, paget.plot):
        for name in module.__all__:
            if callable(getattr(module, name)):
                assert f"{module.__name__}.{name}" in page, f"{module.__name__}.{name}"


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
    from paget.body import human_adult
    model_html = (out / "explanation" / "model.html").read_text()
    assert f"has {gen.number_word(len(human_adult().organs))} organs" in model_html
    assert "{{" not in model_html
    plugins_html = re.sub(r"<pre.*?</pre>", "", (out / "generated" / "plugins.html").read_text(),
                          flags=re.S)
    assert "``" not in plugins_html, "reST markup shown raw in the plugins reference"
    assert (out / "reference" / "sources.html").exists()


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
        for block in [b["body"] for b in _blocks(page) if b["lang"] in ("bash", "text", "console")]:
            for line in block.replace("\\\n", " ").splitlines():
                m = re.search(r"(?:^|\s)paget (\w[\w-]*)(.*)", line.split("#")[0])
                if not m or line.lstrip().startswith(("paget:", "$ paget validate bad")) \
                        or re.match(r"paget: (config )?error", line.lstrip()):
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


# ----------------------------------------------------- the code samples

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)"
                   r"^(?P=indent)(?P=fence)[ \t]*$", re.M | re.S)
RUNNABLE = {"python", "bash", "console", "toml"}


def _blocks(page: Path) -> list[dict]:
    """The fenced code blocks of a page (directives such as ``{toctree}`` left out),
    each as ``{lang, file, no_run, body, line}``."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip()
        if info.startswith("{"):
            continue
        lang, _, rest = info.partition(" ")
        rest = rest.strip()
        block = {"lang": lang, "file": None, "no_run": None, "line": text[:m.start()].count("\n") + 1,
                 "body": "\n".join(ln[len(m.group("indent")):] for ln in
                                   m.group("body").splitlines()) + "\n"}
        if rest.startswith("no-run:"):
            block["no_run"] = rest.removeprefix("no-run:").strip()
        elif rest.startswith("file="):
            block["file"] = rest.removeprefix("file=")
        else:
            assert not rest, f"{page.name}:{block['line']}: unknown info string {info!r}"
        out.append(block)
    return out


def _pages_with_code() -> list[Path]:
    return [p for p in _doc_pages() if any(
        b["lang"] in ("python", "bash", "console") and b["no_run"] is None for b in _blocks(p))]


def test_code_blocks_say_their_language_and_why_they_are_not_run():
    for page in _doc_pages():
        for b in _blocks(page):
            where = f"{page.relative_to(ROOT)}:{b['line']}"
            assert b["lang"] in RUNNABLE | {"text"}, f"{where}: a block needs a language"
            if b["no_run"] is not None:
                assert len(b["no_run"]) > 8, f"{where}: say why the block is not run"
                assert b["lang"] in RUNNABLE, where
            if b["file"]:
                assert b["lang"] in ("toml", "text") and "/" not in b["file"], where


def test_the_code_samples_are_valid_even_where_not_run(tmp_path):
    """Syntax only: python compiles, bash passes ``bash -n``, toml parses."""
    import tomllib
    n = 0
    for page in _doc_pages():
        for b in _blocks(page):
            where = f"{page.relative_to(ROOT)}:{b['line']}"
            if b["lang"] == "python":
                compile(b["body"], where, "exec")
            elif b["lang"] == "bash":
                proc = subprocess.run(["bash", "-n"], input=b["body"], capture_output=True,
                                      text=True, timeout=30)
                assert proc.returncode == 0, (where, proc.stderr)
            elif b["lang"] == "toml":
                tomllib.loads(b["body"])
            n += 1
    assert n > 20


def _run_console(body: str, cwd: Path, env: dict, where: str) -> None:
    lines = body.rstrip("\n").splitlines()
    rc = None
    i = 0
    while i < len(lines):
        assert lines[i].startswith("$ "), (where, lines[i])
        command = lines[i][2:]
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        if command.strip() == "echo $?":
            got = [str(rc)]
        else:
            proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=120)
            rc = proc.returncode
            got = (proc.stdout + proc.stderr).rstrip("\n").splitlines()
        assert got == expected, f"{where}: `{command}` printed {got}, the page says {expected}"


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_code_samples_of_each_page_run(page, tmp_path, monkeypatch):
    """Every block not marked ``no-run:`` runs, in order, as written (see the
    contributor note at the top of this file)."""
    import matplotlib
    matplotlib.use("Agg")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "120",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    namespace: dict = {"__name__": "__main__"}
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "plugins"))
    ran = 0
    for b in _blocks(page):
        where = f"{page.relative_to(ROOT)}:{b['line']}"
        if b["file"]:
            (tmp_path / b["file"]).write_text(b["body"])
        if b["no_run"] is not None or b["lang"] not in ("python", "bash", "console"):
            continue
        if b["lang"] == "python":
            exec(compile(b["body"], where, "exec"), namespace)
        elif b["lang"] == "bash":
            proc = subprocess.run(["bash", "-e", "-c", b["body"]], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"{where}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        else:
            _run_console(b["body"], tmp_path, env, where)
        ran += 1
    assert ran, f"{page.name}: no block runs; mark the page's blocks or drop it from the list"


# ------------------------------------------------ facts quoted in prose

_NUMBER = r"(\d+|" + "|".join(gen._WORDS) + r")"
#: phrases that count some organs, not the body's
_SUBSETS = ("three organs the table does not",)


def test_organ_counts_in_the_prose_match_the_body():
    """"N organs" in the docs and the README is the default body's count (the
    MyST pages quote it as ``{{ organ_count_word }}``, filled from the code)."""
    from paget.body import human_adult
    n = len(human_adult().organs)
    assert gen.substitutions() == {"organ_count": str(n), "organ_count_word": gen.number_word(n)}
    found = 0
    for page in _doc_pages():
        text = " ".join(page.read_text().split())
        for m in re.finditer(rf"(?i)\b{_NUMBER}\s+(?:\w+\s+)?organs\b", text):
            if any(text[m.start():].startswith(s) for s in _SUBSETS):
                continue
            word = m.group(1).lower()
            value = int(word) if word.isdigit() else gen._WORDS.index(word)
            assert value == n, f"{page.relative_to(ROOT)}: {m.group(0)!r}, the body has {n}"
            found += 1
    assert found, "no organ count quoted (the test would check nothing)"


def test_plugin_docstrings_render_as_rest_not_verbatim():
    """Each built-in plugin's module docstring goes into the plugins page as reST
    that parses cleanly (its ``literals`` and lists rendered), not as a literal
    block showing the markup."""
    page = gen.plugins_reference()
    for name, module, _ in gen.plugin_modules():
        doc = inspect.getdoc(importlib.import_module(module))
        assert doc, f"{module} has no docstring"
        rst = gen.docstring_rst(doc)
        assert not rst.startswith(".. code-block::"), (module, gen.rst_problems(rst))
        assert rst in page, module
    assert ".. code-block::" not in page


# --------------------------------------------- no pointers outside the repo

_OUTSIDE = re.compile(r"REFERENCE\.md|DESIGN\.md|STYLE\.md|\.\./shared\b|shared/science|"
                      r"project's shared folder")


def _tracked_files() -> list[Path]:
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=ROOT, capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / f for f in proc.stdout.decode().split("\0") if f]


def test_no_file_cites_documents_that_are_not_in_the_repository():
    """Readers see only the repository: sources are cited as published
    (docs/reference/sources.md), never as the developers' notes outside it."""
    me = Path(__file__).resolve()
    bad = []
    for path in _tracked_files():
        if path.resolve() == me or not path.is_file() or path.suffix in (".png", ".nc", ".npz"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        bad += [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                for m in _OUTSIDE.finditer(text)]
    assert not bad, f"{len(bad)} mentions: " + ", ".join(bad)


# ------------------------------------- results files and the pages they feed

VALIDATION = DOCS / "validation"


def test_the_validation_page_is_what_its_results_files_make(monkeypatch, tmp_path):
    """docs/explanation/validation.md is exactly what ``report.py --reuse`` writes
    from docs/validation/results/ (validation.json, assay.json, liquid_biopsy.json,
    fit.json and the scans): no number on the page disagrees with its file."""
    pytest.importorskip("scipy")
    report = validation_module("report")
    page = tmp_path / "validation.md"
    monkeypatch.setattr(report, "PAGE", page)
    figure = DOCS / "_static" / "validation_sites.png"
    monkeypatch.setattr(report, "_sites_figure", lambda *a: figure)
    report.main(["--reuse"])
    assert page.read_text() == (DOCS / "explanation" / "validation.md").read_text(), \
        "regenerate the page: python docs/validation/report.py --reuse"


def test_the_assay_results_file_is_what_the_code_gives_now():
    """results/assay.json, which feeds the validation page, is the output of
    ``python docs/validation/assay.py`` with the arguments it records (2 s)."""
    import json
    assay = validation_module("assay")
    saved = json.loads((VALIDATION / "results" / "assay.json").read_text())
    now, _ = assay.run(saved["mice"], saved["cells_per_mouse"], saved["seed"])
    assert {k: saved[k] for k in now} == now, "regenerate: python docs/validation/assay.py"
