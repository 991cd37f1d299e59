"""Push and pull decisions.

``push`` walks a client's batch in id order, exactly once per mutation::

    id ≤ last_mutation_id       already_processed, with the stored original outcome
    id > last_mutation_id + 1   a gap: stop, nothing from there on is looked at
    otherwise                   decode → check the rules → apply the record type's policy

and writes everything the batch decided in one ``commit_batch``. Every processed mutation, even a
rejected one, advances ``last_mutation_id``, so one bad mutation never blocks a queue. Only an
unreadable envelope, an unsupported schema version, or another user's client is refused whole
(``SyncError``; the route turns it into a problem document).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from schemas.auth import Role
from schemas.mutations import Mutation, decode_mutation
from schemas.sync import (
    DEFAULT_PULL_LIMIT,
    MAX_MUTATIONS_PER_PUSH,
    SUPPORTED_SCHEMA_VERSIONS,
    Error,
    Gap,
    MutationHeader,
    MutationResult,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
    Status,
)
from schemas.text import NUL, NUL_ESCAPE, nul_path, scrub
from sync import casework, letters  # noqa: F401  (their handlers register in HANDLERS on import)
from sync.handlers import HANDLERS
from sync.policies import BatchView, Decision, Rejected
from sync.store import Batch, Outcome, Principal, Store

PULL_MAX_BYTES = 512_000


class SyncError(Exception):
    """A request refused whole. ``status`` and ``code`` go into the problem document."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def check_request(principal: Principal, request: PushRequest | PullRequest) -> None:
    if request.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(map(str, sorted(SUPPORTED_SCHEMA_VERSIONS)))
        detail = f"schema_version {request.schema_version}; supported: {supported}"
        raise SyncError(400, "version_not_supported", detail)
    if request.client_id != principal.client_id:
        raise SyncError(403, "forbidden", "client_id is not the device this token was issued to")
    if isinstance(request, PushRequest) and len(request.mutations) > MAX_MUTATIONS_PER_PUSH:
        detail = f"{len(request.mutations)} mutations; send at most {MAX_MUTATIONS_PER_PUSH} per push, oldest first"
        raise SyncError(413, "too_many_mutations", detail)


_header = msgspec.json.Decoder(MutationHeader)


def read_headers(request: PushRequest) -> list[MutationHeader]:
    try:
        return [_header.decode(raw) for raw in request.mutations]
    except msgspec.DecodeError as e:
        raise SyncError(400, "malformed", f"a mutation without a readable id: {e}") from e


@dataclass
class _Item:
    header: MutationHeader
    raw: msgspec.Raw
    new: bool  # False: a replay of an id already processed (maybe earlier in this batch)


async def push(store: Store, principal: Principal, request: PushRequest) -> PushResponse:
    check_request(principal, request)
    headers = read_headers(request)
    client = await store.lock_client(principal.client_id, principal.user_id)
    if client.user_id != principal.user_id:
        raise SyncError(403, "forbidden", "this client belongs to another user")

    # 1. Order: which ids are new, which are replays, and where a gap stops the batch.
    items: list[_Item] = []
    gap, last = None, client.last_mutation_id
    for header, raw in zip(headers, request.mutations, strict=True):
        if header.id > last + 1:
            gap = Gap(expected=last + 1, received=header.id)
            break
        items.append(_Item(header, raw, new=header.id == last + 1))
        last = max(last, header.id)
    replayed = {i.header.id for i in items if not i.new and i.header.id <= client.last_mutation_id}
    stored = await store.stored_results(principal.client_id, replayed) if replayed else {}

    # 2. Decode every new mutation, then load every record the batch touches in one read.
    decoded = {i.header.id: _decode(i.raw) for i in items if i.new}
    refs = {ref for m in decoded.values() if not isinstance(m, Error) for ref in HANDLERS[type(m)].refs(m)}
    view = BatchView(principal, await store.load(principal.user_id, refs) if refs else {})

    # 3. Decide each mutation in order, against the batch's view of the records.
    results: list[MutationResult] = []
    outcomes: dict[int, Outcome] = {}
    for item in items:
        mutation_id = item.header.id
        if not item.new:
            first = outcomes[mutation_id].result if mutation_id in outcomes else stored[mutation_id]
            results.append(_replayed(first))
            continue
        view.mutation_id = mutation_id
        mutation = decoded[mutation_id]
        try:
            if isinstance(mutation, Error):
                raise Rejected(mutation.code, mutation.detail)
            if principal.role is not Role.CASE_MANAGER:
                raise Rejected("read_only", f"a {principal.role} device reads, it does not write")
            decision = HANDLERS[type(mutation)].apply(view, mutation)
        except Rejected as e:
            view.discard()
            result = MutationResult(mutation_id, Status.REJECTED, error=Error(e.code, e.detail))
            outcomes[mutation_id] = Outcome(result, _name(item.header), bytes(item.raw))
        else:
            view.accept()
            result = _result(mutation_id, decision)
            outcomes[mutation_id] = Outcome(result, _name(item.header))
        results.append(result)

    if outcomes:
        await store.commit_batch(Batch(principal.client_id, last, view.writes(), list(outcomes.values())))
    return PushResponse(last_mutation_id=last, results=results, gap=gap)


async def reject(store: Store, principal: Principal, request: PushRequest, code: str, detail: str) -> PushResponse:
    """Store a one-mutation push as ``rejected`` with ``code``, writing nothing else: the fallback
    for a mutation the store refused for good (the caller rolled its writes back). If it is not
    the client's next mutation after all (a replay, a gap), it is pushed as usual."""
    check_request(principal, request)
    (header,) = read_headers(request)
    client = await store.lock_client(principal.client_id, principal.user_id)
    if client.user_id != principal.user_id:
        raise SyncError(403, "forbidden", "this client belongs to another user")
    if header.id != client.last_mutation_id + 1:
        return await push(store, principal, request)
    result = MutationResult(header.id, Status.REJECTED, error=Error(code, detail))
    outcome = Outcome(result, _name(header), bytes(request.mutations[0]))
    await store.commit_batch(Batch(principal.client_id, header.id, [], [outcome]))
    return PushResponse(last_mutation_id=header.id, results=[result])


def _decode(raw: msgspec.Raw) -> Mutation | Error:
    try:
        mutation = decode_mutation(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        return Error("malformed", scrub(str(e)))  # the message may quote what was sent
    except RecursionError:
        return Error("malformed", "JSON nested too deeply")
    if NUL_ESCAPE in bytes(raw) and (path := nul_path(msgspec.json.decode(raw))) is not None:
        # PostgreSQL text cannot hold U+0000: refused here, with its field, not at the database.
        return Error("malformed", f"A NUL character (U+0000) is not allowed in text - at `{path}`")
    return mutation


def _name(header: MutationHeader) -> str:
    if isinstance(header.name, str) and NUL not in header.name:
        return header.name
    return msgspec.json.encode(header.name).decode()


def _result(mutation_id: int, decision: Decision) -> MutationResult:
    return MutationResult(
        mutation_id, decision.status, decision.version, decision.conflict_id, flags=list(decision.flags)
    )


def _replayed(first: MutationResult) -> MutationResult:
    return msgspec.structs.replace(first, status=Status.ALREADY_PROCESSED, original=first.original or first.status)


async def pull(
    store: Store, principal: Principal, request: PullRequest, max_bytes: int = PULL_MAX_BYTES
) -> PullResponse:
    check_request(principal, request)
    page = await store.changes(principal, request.cursor, request.limit or DEFAULT_PULL_LIMIT, max_bytes)
    return PullResponse(
        cursor=page.cursor,
        has_more=page.has_more,
        reset=page.reset,
        last_mutation_id=page.last_mutation_id,
        changes=page.changes,
    )
