"""HTTP conventions every service shares, checked through the embedded gateway."""

from __future__ import annotations

import httpx
import pytest


async def test_unknown_route_is_a_translated_problem(client: httpx.AsyncClient) -> None:
    en = await client.get("/v1/nowhere", headers={"accept-language": "en-GB,en;q=0.9"})
    fr = await client.get("/v1/nowhere", headers={"accept-language": "fr-CM"})
    assert en.status_code == fr.status_code == 404
    assert en.headers["content-type"] == "application/problem+json"
    assert en.json()["title"] == "Unknown route"
    assert fr.json()["title"] == "Route inconnue"
    assert en.json()["code"] == "route_not_found"


async def test_wrong_types_name_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/otp/verify", json={"phone": 677123456, "code": ["x"]},
        headers={"accept-language": "en"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert {e["field"] for e in body["errors"]} == {"phone", "code", "device_id"}
    assert "device_id" in body["detail"]


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/otp/request", json={"phone": "677123456", "role": "admin"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "role"


async def test_malformed_json_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/otp/request", content=b'{"phone": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize("declared", [True, False])
async def test_oversized_body_is_413(client: httpx.AsyncClient, declared: bool) -> None:
    body = b'{"phone": "' + b"6" * 2_000_000 + b'"}'
    if declared:
        response = await client.post("/v1/auth/otp/request", content=body,
                                     headers={"content-type": "application/json"})
    else:
        async def chunks():  # type: ignore[no-untyped-def]
            for start in range(0, len(body), 65536):
                yield body[start:start + 65536]

        response = await client.post("/v1/auth/otp/request", content=chunks(),
                                     headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_request_id_and_traceparent_are_propagated(client: httpx.AsyncClient) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await client.get(
        "/healthz", headers={"x-request-id": "req-1234567890", "traceparent": traceparent}
    )
    assert response.headers["x-request-id"] == "req-1234567890"
    assert response.headers["traceparent"].split("-")[1] == trace_id
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_health_readiness_metrics_and_offline_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["services"]["identity"]["checks"]
    assert checks == {"database": True, "broker": True, "cache": True}
    await client.get("/v1/nowhere")
    metrics = await client.get("/metrics")
    assert "okada_http_requests_total" in metrics.text
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    asset = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    redoc = await client.get("/redoc")
    assert "/docs-assets/redoc.standalone.js" in redoc.text
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/auth/otp/request" in spec["paths"]
