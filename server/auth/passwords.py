"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106).

A hash or a verification costs tens of milliseconds of CPU and 64 MiB, on purpose. They run
in a small pool of threads of their own (argon2-cffi releases the GIL), never on the event
loop, where they would stall every other request of the worker; the pool's size also bounds
the memory that a burst of logins can take.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash("doorstep-timing-equaliser")
_pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2), thread_name_prefix="argon2")


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (an unknown user) check it against a dummy hash all the
    same, so the answer takes as long, and say no."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
