"""Which cases a caller may see: decided in ``server.scope`` (one predicate per record kind)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from server import scope
from server.auth.service import Principal


def visible_cases(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause over ``Case`` for what ``principal`` may read (``server.scope.cases``)."""
    return scope.cases(scope.Reader.of(principal))
