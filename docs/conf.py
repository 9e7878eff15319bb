"""Sphinx configuration of the paget documentation.

Build (offline; nothing is fetched)::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

The reference pages in ``generated/`` are written from the code at build time by
the local extension ``_ext/paget_docs.py`` (git-ignored, never edited by hand).
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "paget"
author = "the paget developers"
copyright = "the paget developers, BSD-3-Clause"
try:
    release = version("paget")
except PackageNotFoundError:  # pragma: no cover - docs built from an uninstalled tree
    release = "unknown"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "paget_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README.md"]
templates_path: list[str] = []

# MyST: $...$ and $$...$$ maths, ::: fences, heading anchors for links.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "substitution"]
# facts from the code ({{ organ_count }} ...) are filled in by _ext/paget_docs.py
myst_substitutions: dict[str, str] = {}
myst_heading_anchors = 3

# numpydoc-style docstrings; the hookspecs module documents its common arguments
# under a section of its own.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Arguments common to several hooks", "params_style")]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"

# Offline: no intersphinx, and MathJax is referenced, not fetched at build time.
html_theme = "alabaster"
html_title = f"paget {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "Simulation of the metastatic cascade",
                      "fixed_sidebar": True}
