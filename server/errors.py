"""Domain exceptions. Each carries an HTTP status and a stable snake_case ``code``.

They are mapped once, in ``server.app``, to RFC 9457 problem documents. Codes are a
contract with phones: the app branches on them (see docs/protocol.md).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DoorstepError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotAuthenticated(DoorstepError):
    status, code, title = 401, "not_authenticated", "Authentication required"


class InvalidCredentials(DoorstepError):
    status, code, title = 401, "invalid_credentials", "Invalid username or password"


class TokenInvalid(DoorstepError):
    status, code, title = 401, "token_invalid", "Token is invalid or expired"


class DeviceRevoked(DoorstepError):
    """The phone must wipe its local data: it may have been lost with student records on it."""

    status, code, title = 401, "device_revoked", "This device has been revoked"


class RateLimited(DoorstepError):
    """Too many attempts (see server/auth/throttle.py); ``retry_after`` seconds, also sent as Retry-After."""

    status, code, title = 429, "rate_limited", "Too many attempts, retry later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class Forbidden(DoorstepError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DoorstepError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DoorstepError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidInput(DoorstepError):
    status, code, title = 400, "malformed", "Malformed request"


RETRY_AFTER_SECONDS = 5
"""What a 503 (and a 507) tells the phone to wait before it tries again."""


class Unavailable(DoorstepError):
    """Nothing is wrong with the request; the database, the file store or concurrent changes are in
    the way. Always says when to retry (``Retry-After``)."""

    status, code, title = 503, "unavailable", "Temporarily unavailable, retry later"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class StorageFull(DoorstepError):
    """The file store has no room (a full disk, a quota): nothing of the request was kept. Retried
    later, once an operator made room (``Retry-After``)."""

    status, code, title = 507, "storage_full", "The server's file storage is full, retry later"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class InvalidTransition(DoorstepError):
    status, code, title = 409, "invalid_transition", "The case lifecycle does not allow this change"


class DuplicateWithDifferentContent(DoorstepError):
    status, code, title = 409, "duplicate_id", "This id was already used with different content"


class StaleVersion(DoorstepError):
    """The record changed since the caller read it (``expected_version``); ``current`` is the
    record as it is now, so the caller can look again and decide."""

    status, code, title = 409, "stale_version", "The record changed since you read it"


class NotAwaitingDecision(DoorstepError):
    """A decision on a visit whose note is not submitted (approved, returned, or a draft)."""

    status, code, title = 409, "invalid_transition", "Only a submitted visit can be approved or returned"


class OutsideSchoolYear(DoorstepError):
    """A date no school year covers (the rules are evaluated within one school year)."""

    status, code, title = 400, "outside_school_year", "Date outside any school year"


class ImportRejected(DoorstepError):
    """An all-or-nothing import with bad rows: nothing was written. ``bad_rows`` lists each line and reason."""

    status, code, title = 422, "import_rejected", "Import rejected: bad rows"


class UnknownColumns(DoorstepError):
    """A CSV header names a column the import does not know: the whole file is refused, in any
    mode, before a row is read. ``unknown``, ``expected`` (and ``missing``) list the columns."""

    status, code, title = 422, "unknown_columns", "Import refused: unknown columns"


class RepeatedColumns(DoorstepError):
    """A CSV header names a column twice: the whole file is refused. ``repeated`` lists them."""

    status, code, title = 422, "repeated_columns", "Import refused: repeated columns"
