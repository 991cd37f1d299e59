"""Checks on decoded JSON that a type cannot express: no NUL character in any string.

PostgreSQL text cannot hold U+0000, so a NUL that got past decoding failed at the database, far
from the field that carried it. Pure Python (used by the server's request edge and the sync
engine alike); iterative, so a deeply nested document cannot exhaust the stack.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_ESCAPE = b"\\u0000"
"""How a NUL appears in JSON text (a raw NUL byte is not valid JSON)."""


def nul_path(value: Any, root: str = "$") -> str | None:
    """The path (msgspec's style, ``$.args.body``, ``$.items[2]``) of the first string or key
    holding a NUL, or ``None``."""
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if isinstance(key, str) and NUL in key:
                    return path
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{n}]", child) for n, child in reversed(list(enumerate(item))))
    return None


def scrub(value: Any) -> Any:
    """``value`` with every NUL in its strings and keys replaced by U+FFFD, for storing what was
    sent (a refused request's body, an audit detail) where PostgreSQL would refuse a NUL."""
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
