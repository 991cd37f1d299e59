"""The OpenAPI document is the API: raw bodies, the bearer scheme, and every problem a route answers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import Litestar

from schemas import sync
from schemas.mutations import MUTATION_TYPES
from server import openapi as api_doc
from server.app import create_app
from tests.conftest import make_settings
from tests.helpers import Client

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(make_settings()).openapi_schema.to_schema()
    return schema


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()]


async def test_the_served_document_is_the_finished_one(client: Client, app: Litestar) -> None:
    served = (await client.get("/schema/openapi.json")).json()
    assert served == app.openapi_schema.to_schema()
    assert "bearer" in served["components"]["securitySchemes"]


def test_the_documentation_routes_are_not_operations(doc: dict[str, Any]) -> None:
    assert not [path for path in doc["paths"] if path.startswith("/schema")]


def test_push_declares_its_body_with_the_mutation_union_by_name(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/sync/push"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PushRequest"}
    envelope = doc["components"]["schemas"]["PushRequest"]
    assert envelope["required"] == ["client_id", "schema_version", "mutations"]
    union = envelope["properties"]["mutations"]["items"]
    assert union["discriminator"]["propertyName"] == "name"
    assert sorted(union["discriminator"]["mapping"]) == sorted(str(t.__struct_config__.tag) for t in MUTATION_TYPES)
    for ref in union["discriminator"]["mapping"].values():
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"]


def test_the_documented_push_envelope_is_the_one_the_server_reads() -> None:
    assert api_doc.PushRequest.__struct_fields__ == sync.PushRequest.__struct_fields__
    documented = msgspec.structs.fields(api_doc.PushRequest)
    read = msgspec.structs.fields(sync.PushRequest)
    assert [(f.name, f.required) for f in documented] == [(f.name, f.required) for f in read]


def test_pull_and_imports_declare_their_bodies(doc: dict[str, Any]) -> None:
    pull = doc["paths"]["/sync/pull"]["post"]["requestBody"]["content"]
    assert pull["application/json"]["schema"] == {"$ref": "#/components/schemas/PullRequest"}
    assert doc["components"]["schemas"]["PullRequest"]["required"] == ["client_id", "schema_version"]
    for path in ("/rosters/imports", "/calendars/imports", "/attendance/imports"):
        content = doc["paths"][path]["post"]["requestBody"]["content"]
        assert content["text/csv"]["schema"]["type"] == "string", path


def test_bearer_scheme_and_per_operation_security(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from POST /auth/login or /auth/refresh",
    }
    public = {"GET /health", "GET /ready", "POST /auth/login", "POST /auth/refresh"}
    for method, path, op in operations(doc):
        expected: list[dict[str, list[str]]] = [] if f"{method} {path}" in public else [{"bearer": []}]
        assert op["security"] == expected, f"{method} {path}"


def test_every_error_answer_is_a_problem_document(doc: dict[str, Any]) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "code", "errors"}
    for method, path, op in operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400 or (path, status) == ("/ready", "503"):
                continue
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (method, path, status)


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        ("POST /auth/login", {"400", "401", "413", "415", "429", "503"}),
        ("GET /users/me", {"401", "503"}),
        ("GET /users", {"400", "401", "403", "503"}),
        ("GET /cases/{case_id}", {"400", "401", "404", "503"}),
        ("POST /cases/{case_id}/transition", {"400", "401", "403", "404", "409", "413", "415", "503"}),
        ("POST /referrals", {"400", "401", "403", "404", "409", "413", "415", "503"}),
        ("POST /sync/push", {"400", "401", "403", "413", "415", "503"}),
        ("POST /rosters/imports", {"400", "401", "403", "413", "422", "503"}),
        ("GET /ready", {"503"}),
        ("GET /health", set()),
    ],
)
def test_each_route_documents_the_problems_it_can_answer(
    doc: dict[str, Any], operation: str, statuses: set[str]
) -> None:
    method, path = operation.split()
    documented = {status for status in doc["paths"][path][method.lower()]["responses"] if int(status) >= 400}
    assert documented == statuses


def test_every_authenticated_operation_documents_401_and_every_record_404(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        if op["security"]:
            assert {"401", "503"} <= set(op["responses"]), f"{method} {path}"
        if "{" in path:
            assert "404" in op["responses"], f"{method} {path}"
        if "requestBody" in op:
            assert {"400", "413"} <= set(op["responses"]), f"{method} {path}"


def test_the_visit_log_routes_document_their_filters_and_the_record(doc: dict[str, Any]) -> None:
    listing = doc["paths"]["/visit-logs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor", "flagged", "flag", "case_id", "status"}
    flag = next(p for p in listing["parameters"] if p["name"] == "flag")
    assert {"$ref": "#/components/schemas/VisitFlag"} in flag["schema"]["oneOf"]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/VisitLogPage"}
    one = doc["paths"]["/visit-logs/{visit_log_id}"]["get"]["responses"]
    assert one["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/VisitLogOut"}
    assert {"401", "404", "503"} <= set(one)
    record = doc["components"]["schemas"]["VisitLogOut"]
    assert "truancy" in record["properties"] and "truancy" not in record["required"]  # an added optional field
    assert {"flags", "distance_m", "outcome", "status", "checked_in_at"} <= set(record["required"])


async def test_a_problem_is_sent_as_documented(client: Client) -> None:
    response = await client.get("/users/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert set(response.json()) >= {"type", "title", "status", "detail", "code"}


def test_a_handler_named_in_the_tables_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(api_doc.DOMAIN_PROBLEMS, "renamed_handler", frozenset({409}))
    with pytest.raises(ValueError, match="renamed_handler"):
        create_app(make_settings())
