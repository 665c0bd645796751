"""The API documents are generated from the code and describe the real schemas."""

from __future__ import annotations

import json

from services.adapters.jetstream.topology import Topology
from services.bootstrap import Service
from services.entrypoints.nats.api import asyncapi_document
from services.settings import Settings
from tests.api_helpers import client_for


def test_asyncapi_document_describes_signal_submission() -> None:
    doc = json.loads(asyncapi_document(Settings()))
    assert doc["asyncapi"].startswith("3.")
    assert "signal.submit" in doc["channels"]
    schema = doc["components"]["schemas"]["SubmitSignalRequest"]
    assert {"reporter", "source_role", "network_id", "area", "level"} <= set(schema["required"])


def test_asyncapi_subjects_carry_the_identity_and_the_body_no_actor() -> None:
    doc = json.loads(asyncapi_document(Settings()))
    channel = doc["channels"]["escalation.declare"]
    assert channel["address"] == "bg.cmd.{role}.{id}.escalation.declare"
    assert set(channel["parameters"]) == {"role", "id"}
    assert "service" not in channel["parameters"]["role"]["enum"]
    assert "police" in channel["parameters"]["role"]["enum"]
    for name, schema in doc["components"]["schemas"].items():
        if name.endswith("Request"):
            assert "actor" not in schema.get("properties", {}), name
    assert doc["components"]["securitySchemes"]["nkey"]["type"] == "asymmetricEncryption"
    assert all(s["security"] for s in doc["servers"].values())


async def test_openapi_document_is_served_under_api_v1(service: Service) -> None:
    async with client_for(service) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    for path in ["/api/v1/signals", "/api/v1/tension-map", "/api/v1/call-lists"]:
        assert path in paths, path
    body = paths["/api/v1/signals"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["level"]["maximum"] == 5


# ---------------------------------------------------------------- completeness (issue 11)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolves(document: dict[str, object], ref: str) -> bool:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


async def test_the_openapi_document_is_valid_and_lists_every_api_route(service: Service) -> None:
    from fastapi.routing import APIRoute
    from openapi_spec_validator import validate

    async with client_for(service) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
    validate(doc)  # OpenAPI 3.1, every $ref resolving
    app = service.http.config.app
    routes = {
        (method.lower(), route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1/")
        for method in route.methods
    }
    undocumented = {(m, p) for m, p in routes if m not in doc["paths"].get(p, {})}
    assert undocumented == {("get", "/api/v1/docs")}  # the page that shows the document
    assert "post" in doc["paths"]["/api/v1/cap"]
    assert "application/cap+xml" in doc["paths"]["/api/v1/cap"]["post"]["requestBody"]["content"]


def test_the_asyncapi_document_has_every_command_with_its_reply_and_the_outbound_events() -> None:
    from services.app import commands as c
    from services.app.outbound import EVENTS
    from services.app.queries import QUERIES

    doc = json.loads(asyncapi_document(Settings()))
    addresses = {ch["address"] for ch in doc["channels"].values()}
    for command in c.COMMANDS:
        assert f"bg.cmd.{{role}}.{{id}}.{command.NAME}" in addresses, command.NAME
    for query in QUERIES:  # the reads, each with its own reply (the result's schema)
        assert f"bg.query.{{role}}.{{id}}.{query.NAME}" in addresses, query.NAME
        (reply,) = doc["operations"][f"query.{query.NAME}"]["reply"]["messages"]
        assert reply["$ref"] != "#/components/messages/Reply", query.NAME
    for name, operation in doc["operations"].items():
        if operation["action"] == "receive":  # a request the service answers
            assert operation["reply"]["messages"], name
        else:
            assert operation["channel"]["$ref"] == "#/channels/outbound.escalation", name
    outbound = doc["channels"]["outbound.escalation"]
    assert outbound["address"] == "bg.out.escalation.{municipality}.{event}"
    # ...which is where the reactor publishes (one subject shape in two places, kept equal)
    assert Topology().outbound_subject("{municipality}", "{event}") == outbound["address"]
    assert outbound["parameters"]["event"]["enum"] == list(EVENTS)
    missing = [r for r in _refs(doc) if not _resolves(doc, r)]
    assert missing == []
