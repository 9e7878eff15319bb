"""The resolved configuration as commented TOML (``paget run --print-config``).

Every key is written with a comment above it: its description and units, what
is allowed, and the source of its default, read from the field's metadata of
the model that :mod:`paget.config` assembles.
"""
from __future__ import annotations

import re
import typing
from typing import Any, Iterable, Literal, Mapping

import pydantic
from pydantic import BaseModel

from .config import _MISSING, Table, _bounds, _range_text

#: width of the comment lines of :func:`config_toml`
_COMMENT_WIDTH = 88


def field_notes(field: pydantic.fields.FieldInfo, default: Any = _MISSING,
                value: Any = _MISSING) -> list[str]:
    """What a key's comment says: its description (with units), what is
    allowed, and the source of its default, from the field's metadata
    (``description``; ``json_schema_extra`` keys ``units`` and ``source``).
    Given a ``value`` other than the ``default`` (both as JSON), the default
    is named too: the source is the default's, not the value's."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, Mapping) else {}
    text = (field.description or "").strip()
    if extra.get("units"):
        text += f" ({extra['units']})" if text else str(extra["units"])
    allowed = _range_text(_bounds(field.annotation, field.metadata))
    choices = _choices(field.annotation)
    if choices:
        allowed = "one of " + ", ".join(choices)
    if allowed:
        # a range is one word to the wrapping: "within [0, 1]" stays on one line
        allowed = "allowed: " + re.sub(r"([\[(][^\])]*[\])])",
                                       lambda m: m.group(1).replace(" ", "\xa0"), allowed)
        text += f"; {allowed}" if text else allowed
    notes = [text] if text else []
    changed = default is not _MISSING and value is not _MISSING and default != value
    shown = _inline(default) if changed else ""
    source = extra.get("source")
    if changed and len(shown) > 40:        # too long to quote: the source is the default's
        notes += [f"source of the default: {source}"] if source else []
    elif changed:
        notes.append(f"default {shown}" + (f", source: {source}" if source else ""))
    elif source:
        notes.append(f"source: {source}")
    return notes


def _inline(value: Any) -> str:
    """A value as TOML writes it inline."""
    import tomlkit
    if value is None:
        return "not set"
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        table.update(value)
        return table.as_string()
    return tomlkit.item(value).as_string()


def _choices(annotation: Any) -> list[str]:
    """The values a Literal (or a list of a Literal) allows, else []."""
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation) or (None,)
    if typing.get_origin(annotation) is Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return []


def _comment_lines(notes: Iterable[str]) -> list[str]:
    import textwrap
    lines: list[str] = []
    for note in notes:
        # textwrap takes the no-break space for whitespace: wrap on spaces only
        wrapped = textwrap.TextWrapper(width=_COMMENT_WIDTH - 2, break_long_words=False,
                                       break_on_hyphens=False)
        wrapped.wordsep_simple_re = re.compile(r"( +)")
        lines += [line.replace("\xa0", " ") for line in wrapped.wrap(note)] or [""]
    return lines


def _is_table_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _table_note(model: type[BaseModel]) -> list[str]:
    """The comment under a table's header: its docstring's first paragraph and
    the module that declares it."""
    doc = model.__doc__ if model.__doc__ != BaseModel.__doc__ else None
    first = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "") if doc else ""
    where = "the engine" if model.__module__ == Table.__module__ else model.__module__
    return [n for n in (first, f"declared by {where} ({model.__name__})") if n]


def config_toml(data: Mapping[str, Any], model: type[BaseModel]) -> str:
    """``data``, a resolved configuration (``Simulation.resolved_config()``), as
    TOML with a comment above every key: its description and units, what is
    allowed, and the source of its default (:func:`field_notes`).

    Reading the text back gives ``data`` again, so printing the configuration
    it resolves to gives the same text, byte for byte.  Keys set to nothing
    (None) are left out, with a comment saying so.  Keys the model does not
    declare (a trial's ``arms``) are written as given, last.
    """
    import tomlkit

    def comment(container, notes: Iterable[str]) -> None:
        for line in _comment_lines(notes):
            container.add(tomlkit.comment(line))

    def value_item(value: Any):
        if isinstance(value, Mapping):
            inline = tomlkit.inline_table()
            for k, v in value.items():
                inline.append(k, value_item(v))
            return inline
        if isinstance(value, list):
            array = tomlkit.array()
            for v in value:
                array.append(value_item(v))
            return array
        return tomlkit.item(value)

    def fill(container, values: Mapping[str, Any], table: type[BaseModel], prefix: str,
             defaults: Any, top: bool = False) -> None:
        fields = table.model_fields
        later = []     # sub-tables follow the keys of a table in TOML
        for name, field in fields.items():
            value = values.get(name)
            if value is None and _is_table_type(field.annotation):
                value = {}     # a table its model leaves out while unused: each key "not set"
            default = defaults.get(name, _MISSING) if isinstance(defaults, Mapping) else _MISSING
            if _is_table_type(field.annotation) and isinstance(value, Mapping):
                later.append((name, field, value, default))
            elif isinstance(value, Mapping) and value and (
                    all(isinstance(v, Mapping) for v in value.values())
                    or len(value_item(value).as_string()) > _COMMENT_WIDTH - len(name) - 3):
                # a table of tables, or a long one: under its own header
                later.append((name, field, value, default))
            elif value is None:
                comment(container, [f"{name}: not set"] + field_notes(field, default, value))
            else:
                comment(container, field_notes(field, default, value))
                container.add(name, value_item(value))
        for name, field, value, default in later:
            if _is_table_type(field.annotation):
                sub_model = field.annotation
                subtables_only = all(_is_table_type(f.annotation)
                                     for f in sub_model.model_fields.values())
                sub = tomlkit.table(is_super_table=subtables_only)
                if not subtables_only:
                    comment(sub, _table_note(sub_model) if top else field_notes(field)
                            or _table_note(sub_model))
                    sub.add(tomlkit.nl())
                fill(sub, value, sub_model, f"{prefix}{name}.",
                     defaults.get(name) if isinstance(defaults, Mapping) else None)
            else:
                sub = tomlkit.table()
                comment(sub, field_notes(field, default, value))
                for k, v in value.items():
                    sub.add(k, value_item(v))
            container.add(name, sub)
        for name, value in values.items():
            if name not in fields and not top and value is not None:
                container.add(name, value_item(value))

    doc = tomlkit.document()
    comment(doc, ["paget configuration, fully resolved: every key with its default or "
                  "the value given (paget run --print-config).  Each comment gives the "
                  "key's meaning and units, what is allowed and the source of the default."])
    doc.add(tomlkit.nl())
    try:
        defaults = model().model_dump(mode="json")
    except pydantic.ValidationError:   # a table without defaults: no comparison
        defaults = None
    fill(doc, data, model, "", defaults, top=True)
    for name, value in data.items():
        if name in model.model_fields or value is None:
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            doc.add(tomlkit.nl())
            comment(doc, [f"{name}: as given (each entry changes the tables it names)"])
            aot = tomlkit.aot()
            for entry in value:
                t = tomlkit.table()
                for k, v in entry.items():
                    t.add(k, value_item(v))
                aot.append(t)
            doc.add(name, aot)
        else:
            doc.add(name, value_item(value))
    return tomlkit.dumps(doc)
