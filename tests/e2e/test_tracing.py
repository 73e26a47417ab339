"""Traces, on by one setting: ingest, review and publish as processes export OTLP (protobuf over
HTTP) to a real receiver; an item's spans carry its submission id, review's consumer span
continues the trace of the message ingest's relay published (its context travels in the message
headers), and publish's step on a channel is a span of its own."""

import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.conftest import Identities, remove_namespace, serving
from tests.e2e.conftest import _start, _wait_ready
from tests.e2e.test_pipeline import item
from tests.integration.test_publish import approved
from tests.support import EventTap, eventually, free_port, isolated_settings, settings_env

pytestmark = pytest.mark.e2e


def collector(spans: list[dict]) -> FastAPI:
    """An OTLP/HTTP trace receiver that keeps every span it is sent, with its service's name."""
    app = FastAPI()

    @app.post("/v1/traces")
    async def export(request: Request) -> Response:
        sent = ExportTraceServiceRequest.FromString(await request.body())
        for resource in sent.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
            for scope in resource.scope_spans:
                spans.extend(_span(service, s) for s in scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        return Response(answer, media_type="application/x-protobuf")

    return app


def _span(service: str, span) -> dict:
    attributes = {a.key: a.value.string_value for a in span.attributes}
    return {"service": service, "name": span.name, "trace": span.trace_id.hex(), "attributes": attributes}


async def test_an_items_spans_carry_its_id_across_http_and_the_broker(servers):
    spans: list[dict] = []
    otlp_port, ports = free_port(), {name: free_port() for name in ("ingest", "review", "publish")}
    settings = isolated_settings(
        servers, otlp_endpoint=f"http://127.0.0.1:{otlp_port}", **{f"{n}_port": p for n, p in ports.items()}
    )
    env = {**settings_env(settings), "OTEL_BSP_SCHEDULE_DELAY": "100"}  # export within 0.1 s
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    processes: dict[str, subprocess.Popen] = {}
    async with serving(collector(spans), otlp_port):
        try:
            for name in ports:
                processes[name] = _start(f"tracing-{name}", [sys.executable, "-m", f"services.{name}"], env)
            _wait_ready(urls, processes, 120)  # three services starting on a busy machine
            department = await Identities(settings).department()
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    f"{urls['ingest']}/v1/submissions", json=item("追踪"), headers=department
                )
            sid = answer.json()["id"]

            def of(service: str, name: str, submission_id: str = sid) -> list[dict]:
                return [
                    s
                    for s in spans
                    if s["service"] == service
                    and s["name"] == name
                    and s["attributes"].get("gongkai.submission_id") == submission_id
                ]

            consumed = f"{settings.namespace}.events.submission.received process"
            await eventually(lambda: of("gongkai-review", consumed), 20, "review's consumer span")
            assert of("gongkai-ingest", "POST /v1/submissions"), {s["name"] for s in spans}
            [relayed] = of("gongkai-ingest", "relay submission.received")
            assert of("gongkai-review", consumed)[0]["trace"] == relayed["trace"]
            assert not [s for s in spans if s["name"].startswith("GET /readyz")]

            async with EventTap(settings) as tap:
                await tap.publish(approved("traced", channels=["portal"]))  # as review would announce it
            await eventually(lambda: of("gongkai-publish", "publish on portal", "traced"), 20, "the push")
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                process.wait(15)
            await remove_namespace(settings)
