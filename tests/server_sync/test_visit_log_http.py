"""Visit logs over HTTP: a check-in's flags in the push answer and in the pulled record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import bearer
from tests.server_sync.conftest import Field


def _push(f: Field, *mutations: dict[str, Any]) -> Any:
    body = {"client_id": str(f.phone), "schema_version": 1, "mutations": list(mutations)}
    return f.client.post("/sync/push", json=body, headers=bearer(f.tokens))


def _at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


async def test_a_check_in_and_out_over_http_answers_and_syncs_its_flags(field: Field) -> None:
    vid = uuid.uuid4()
    check_in = {"id": str(vid), "case_id": str(field.case_id), "at": _at(30)}
    check_out = {"id": str(vid), "at": _at(31), "outcome": "family_met", "latitude": 40.0}
    bad = {"id": str(uuid.uuid4()), "case_id": str(field.case_id), "at": _at(0)} | {
        "latitude": 95.0,
        "longitude": 1.0,
        "accuracy_m": 5.0,
    }
    response = await _push(
        field,
        {"id": 1, "name": "visit_log.check_in", "args": check_in},
        {"id": 2, "name": "visit_log.check_out", "args": check_out},
        {"id": 3, "name": "visit_log.check_out", "args": check_out | {"longitude": 1.0, "accuracy_m": 3.0}},
        {"id": 4, "name": "visit_log.check_in", "args": bad},
    )
    assert response.status_code == 200, response.text
    first, partial, second, malformed = response.json()["results"]
    expected = ["location_missing", "home_not_geocoded", "time_in_future"]
    assert (first["status"], first["version"], first["flags"]) == ("applied", 1, expected)
    assert (partial["status"], partial["error"]["code"]) == ("rejected", "malformed")
    assert "accuracy_m" in partial["error"]["detail"] or "longitude" in partial["error"]["detail"]
    assert (second["status"], second["version"], second["flags"]) == ("applied", 2, expected)
    assert (malformed["status"], malformed["error"]["code"]) == ("rejected", "malformed")
    assert "latitude" in malformed["error"]["detail"] and "flags" not in malformed

    pulled = await field.client.post(
        "/sync/pull", json={"client_id": str(field.phone), "schema_version": 1}, headers=bearer(field.tokens)
    )
    assert pulled.status_code == 200, pulled.text
    (log,) = [c for c in pulled.json()["changes"] if c["type"] == "visit_log"]
    assert (log["id"], log["version"]) == (str(vid), 2)
    assert (log["data"]["status"], log["data"]["outcome"], log["data"]["flags"]) == (
        "checked_out",
        "family_met",
        expected,
    )
    assert log["data"]["out_latitude"] == 40.0 and log["data"]["distance_m"] is None
