"""YAML files with line numbers, duplicate keys refused, and pydantic errors turned into one line.

PyYAML's ``safe_load`` silently keeps the last of two equal keys; this loader refuses
them, and remembers the line of every value so an error can say ``file:line: key: problem``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in out:
                raise ValueError(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted((*loc, key))}: duplicate key"
                )
            out[key] = _build(value_node, (*loc, key), lines, path)
            lines[(*loc, key)] = key_node.start_mark.line + 1  # errors point at the key, not its value
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, (*loc, i), lines, path) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Load a YAML file; return the data and a map from key paths to line numbers.

    Raises ValueError with a one-line ``path:line: problem`` message.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}{line}: not valid YAML: {problem}") from None
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _build(node, (), lines, path), lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of ``loc``, or of its nearest parent that has one."""
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get((), 1)


def describe(exc: ValidationError, path: Path, lines: dict[Loc, int], prefix: Loc = ()) -> str:
    """One line for the first error of a pydantic validation: ``path:line: key: problem``."""
    return describe_error(exc.errors()[0], path, lines, prefix)


def error_loc(err: Any, prefix: Loc = ()) -> Loc:
    """Where a pydantic error is, as keys from the top of the file."""
    return (*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))


def describe_error(err: Any, path: Path, lines: dict[Loc, int], prefix: Loc = ()) -> str:
    """One line for one pydantic error: ``path:line: key: problem``."""
    loc = error_loc(err, prefix)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] in ("literal_error", "enum"):
        msg = f"{msg}, got {err.get('input')!r}"
    return f"{path}:{line_of(lines, loc)}: {_dotted(loc)}: {msg}"


def validate(model: type[BaseModel], data: Any, path: Path, lines: dict[Loc, int], prefix: Loc = ()) -> Any:
    """Validate ``data`` with ``model``; on failure raise ValueError with one clear line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe(exc, path, lines, prefix)) from None
