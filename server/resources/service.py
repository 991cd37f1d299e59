"""The district's directory of community resources: what case managers refer families to.

Office staff and admins write it (``POST /resources``, ``PUT /resources/{id}``, the console, the
CSV import), everyone reads it, and every case manager's phone holds it: each write goes through
the ORM in the caller's session, so the ``sync_change`` triggers log it and the next pulls carry it
(type ``resource``). Every write is audited (``resource.create``, ``resource.update``).

What a resource holds is checked here once for every door (``clean``): text trimmed and blank text
left out, a name, lengths, language tags in BCP 47 (normalised: ``ES`` is ``es``, ``pt-br`` is
``pt-BR``), a website on http(s), a latitude with its longitude (both or neither).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.casework import Factor, ResourceCreate, ResourceIn, ResourceOut
from server import audit
from server.audit import Actor
from server.errors import DuplicateWithDifferentContent, InvalidInput, NotFound, StaleVersion
from server.resources import repository as repo
from server.resources.models import Resource

WRITERS = (Role.OFFICE_STAFF, Role.ADMIN)
CONTENT = ("name", "factors", "languages", "address", "phone", "website", "hours", "latitude", "longitude", "active")
"""A resource's fields as office staff write them (``ResourceIn``), in the order forms show them."""
LIMITS = {"name": 200, "address": 300, "phone": 32, "website": 300, "hours": 200}
TEXT = ("address", "phone", "website", "hours")
MAX_LANGUAGE = 35
EXAMPLE_TAGS = "a BCP 47 language code such as en, es or pt-BR"
FACTOR_CODES = frozenset(f.value for f in Factor)


class VersionMismatch(StaleVersion):
    """``If-Match`` named another version than the resource's: the precondition failed (412), the
    code is ``stale_version`` as for every stale write, with the resource as it is now in ``current``."""

    status = 412


def language_tag(value: str) -> str:
    """A BCP 47 tag, normalised as the registry writes it: the language in lower case (``es``), a
    script in title case (``zh-Hant``), a region in upper case (``pt-BR``, ``es-419``). ValueError
    (the reason) for anything else."""
    tag = value.strip()
    if not tag:
        raise ValueError("an empty language code")
    if "_" in tag:
        raise ValueError(f"{tag!r} is not a language code: write a hyphen, not an underscore ({tag.replace('_', '-')})")
    parts = tag.split("-")
    primary, rest = parts[0], parts[1:]
    well_formed = (
        len(tag) <= MAX_LANGUAGE
        and tag.isascii()
        and 2 <= len(primary) <= 3
        and primary.isalpha()
        and all(2 <= len(p) <= 8 and p.isalnum() for p in rest)
    )
    if not well_formed:
        raise ValueError(f"{tag!r} is not a language code: expected {EXAMPLE_TAGS}")
    out = [primary.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def _web_address(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and " " not in value


def problems(data: ResourceIn) -> list[tuple[str, str]]:
    """What is wrong with ``data``, as ``(field, reason)`` pairs in the order of the form."""
    found: list[tuple[str, str]] = []
    name = data.name.strip()
    if not name:
        found.append(("name", "a name is required"))
    elif len(name) > LIMITS["name"]:
        found.append(("name", f"at most {LIMITS['name']} characters"))
    for code in data.factors:
        if code not in FACTOR_CODES:
            found.append(("factors", f"{code!r} is not a factor code (GET /assessment-factors lists them)"))
    for tag in data.languages:
        try:
            language_tag(tag)
        except ValueError as exc:
            found.append(("languages", str(exc)))
    for field in TEXT:
        value = (getattr(data, field) or "").strip()
        if len(value) > LIMITS[field]:
            found.append((field, f"at most {LIMITS[field]} characters"))
    website = (data.website or "").strip()
    if website and not _web_address(website):
        found.append(("website", "a web address starting with https:// (or http://), e.g. https://example.org"))
    for field, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = getattr(data, field)
        if value is not None and (not math.isfinite(value) or not -bound <= value <= bound):
            found.append((field, f"a number from -{bound:g} to {bound:g} (decimal degrees)"))
    if (data.latitude is None) != (data.longitude is None):
        missing = "longitude" if data.longitude is None else "latitude"
        found.append((missing, f"give the {missing} too, or leave both latitude and longitude empty"))
    return found


def invalid(found: list[tuple[str, str]]) -> InvalidInput:
    """The problem document of a refused resource: ``errors`` names each field as Litestar's own
    validation does (``key``, ``message``, ``source``)."""
    return InvalidInput(
        "; ".join(f"{field}: {reason}" for field, reason in found),
        errors=[{"message": reason, "key": field, "source": "body"} for field, reason in found],
    )


def clean(data: ResourceIn) -> ResourceIn:
    """``data`` checked and normalised (text trimmed, blank text as none, codes once each in the
    order given, language tags normalised), or ``InvalidInput`` naming each bad field."""
    found = problems(data)
    if found:
        raise invalid(found)
    text = {f: (getattr(data, f) or "").strip() or None for f in TEXT}
    return ResourceIn(
        name=data.name.strip(),
        factors=list(dict.fromkeys(Factor(f) for f in data.factors)),
        languages=list(dict.fromkeys(language_tag(t) for t in data.languages)),
        latitude=data.latitude,
        longitude=data.longitude,
        active=data.active,
        **text,
    )


def content(data: ResourceIn) -> dict[str, Any]:
    """What is stored, as plain JSON values (factor codes as strings)."""
    values = {f: getattr(data, f) for f in CONTENT}
    values["factors"] = [str(f) for f in data.factors]
    values["languages"] = list(data.languages)
    return values


def stored(resource: Resource) -> dict[str, Any]:
    return {f: getattr(resource, f) for f in CONTENT}


def out(resource: Resource) -> ResourceOut:
    return msgspec.convert(resource, ResourceOut, from_attributes=True)


async def create(session: AsyncSession, actor: Actor, body: ResourceCreate, **detail: Any) -> tuple[Resource, bool]:
    """Add a resource; returns it and whether it is new. The client's ``id`` makes a retry safe:
    the same id with the same content is the stored resource (False), with other content a
    ``duplicate_id``. ``detail`` goes into the audit row (an import's id and line)."""
    data = clean(body)
    values = content(data)
    if body.id is not None:
        existing = await repo.get(session, body.id, for_update=True)
        if existing is not None:
            return _same_or_refused(existing, values), False
    resource = Resource(id=body.id or uuid.uuid4(), version=1, **values)
    try:
        async with session.begin_nested():
            session.add(resource)
            await session.flush()
    except IntegrityError:
        # The same id made meanwhile by another request (a retry racing the first attempt).
        assert body.id is not None
        raced = await repo.get(session, body.id, for_update=True)
        if raced is None:
            raise
        return _same_or_refused(raced, values), False
    audit.record(session, actor, "resource.create", "resource", resource.id, **values, **detail)
    return resource, True


def _same_or_refused(existing: Resource, values: Mapping[str, Any]) -> Resource:
    if stored(existing) != values:
        raise DuplicateWithDifferentContent(f"Resource {existing.id} already exists with different content")
    return existing


async def update(
    session: AsyncSession,
    actor: Actor,
    resource_id: uuid.UUID,
    body: ResourceIn,
    *,
    expected_version: int | None = None,
    **detail: Any,
) -> tuple[Resource, bool]:
    """Replace a resource's fields (a full ``ResourceIn``); returns it and whether anything changed.
    A change bumps its version and is audited with the fields before and after; the same content
    again writes nothing. ``expected_version`` (``If-Match``): another version is refused."""
    data = clean(body)
    resource = await repo.get(session, resource_id, for_update=True)
    if resource is None:
        raise NotFound("No such resource")
    if expected_version is not None and expected_version != resource.version:
        raise VersionMismatch(
            f"Resource {resource.id} is at version {resource.version}, not {expected_version}",
            current=msgspec.to_builtins(out(resource)),
        )
    changed = apply(session, actor, resource, content(data), **detail)
    await session.flush()
    return resource, changed


def apply(session: AsyncSession, actor: Actor, resource: Resource, values: Mapping[str, Any], **detail: Any) -> bool:
    """Write ``values`` over ``resource``: False when they are what it holds already."""
    before = stored(resource)
    changed = [f for f in CONTENT if before[f] != values[f]]
    if not changed:
        return False
    for field in changed:
        setattr(resource, field, values[field])
    resource.version += 1
    audit.record(
        session,
        actor,
        "resource.update",
        "resource",
        resource.id,
        version=resource.version,
        before={f: before[f] for f in changed},
        after={f: values[f] for f in changed},
        **detail,
    )
    return True
