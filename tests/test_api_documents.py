"""The API documents are generated from the code and describe the real schemas."""

from __future__ import annotations

import json

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
