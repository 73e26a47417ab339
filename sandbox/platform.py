"""The platform sandbox: a stand-in for the external unified disclosure platform (统一平台) in
development, demos and tests. It checks the signature of every push, keeps what it received —
each request's headers and body exactly as they came, at `GET /deliveries`, so that anybody can
check a signature with the secret on their own —, honours deletes, and can be told to fail or to
be slow so that retries can be watched."""

import asyncio
from typing import Annotated

from fastapi import Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared import problems
from shared.events import utcnow
from shared.signing import WebhookVerificationError, verify


class Behaviour(BaseModel):
    """How the sandbox answers the next pushes: `fail_status` for `fail_count` requests
    (-1: until told otherwise), each after `delay_seconds`."""

    fail_status: int = Field(503, ge=400, le=599)
    fail_count: int = Field(0, ge=-1)
    delay_seconds: float = Field(0.0, ge=0, le=120)
    retry_after: int | None = Field(None, ge=0)


class PlatformState:
    def __init__(self):
        self.items: dict[str, dict] = {}
        self.answers: dict[str, tuple[int, dict]] = {}  # webhook-id → the answer given to it
        self.deliveries: list[dict] = []
        self.behaviour = Behaviour()


def create_sandbox(secret: str, base_url: str) -> FastAPI:
    app = FastAPI(title="gongkai platform sandbox")
    problems.install(app)
    state = PlatformState()

    async def admitted(request: Request, body: bytes) -> Response | None:
        """None when the push may proceed; otherwise the answer refusing it."""
        entry = {
            "at": utcnow().isoformat(),
            "method": request.method,
            "path": request.url.path,
            "webhook_id": request.headers.get("webhook-id"),
            "headers": dict(request.headers),
            "body": body.decode("utf-8", errors="replace"),
        }
        state.deliveries.append(entry)
        await asyncio.sleep(state.behaviour.delay_seconds)
        try:
            verify(secret, body, dict(request.headers))
        except WebhookVerificationError as error:
            entry["verdict"] = f"bad signature: {error}"
            return problems.problem_response(401, "Bad signature", str(error))
        if state.behaviour.fail_count:
            if state.behaviour.fail_count > 0:
                state.behaviour.fail_count -= 1
            entry["verdict"] = f"told to fail: {state.behaviour.fail_status}"
            retry = state.behaviour.retry_after
            headers = {"Retry-After": str(retry)} if retry is not None else None
            return problems.problem_response(
                state.behaviour.fail_status, "Sandbox told to fail", headers=headers
            )
        entry["verdict"] = "accepted"
        return None

    @app.post("/items", status_code=201)
    async def receive(request: Request) -> Response:
        body = await request.body()
        refusal = await admitted(request, body)
        if refusal is not None:
            return refusal
        webhook_id = request.headers["webhook-id"]
        if webhook_id in state.answers:  # a retry of a push already taken: same answer, no copy
            status, answer = state.answers[webhook_id]
            return JSONResponse(answer, status_code=status)
        payload = await request.json()
        remote_id = str(payload.get("id") or webhook_id)
        state.items[remote_id] = {**payload, "received_at": utcnow().isoformat(), "webhook_id": webhook_id}
        answer = {"id": remote_id, "url": f"{base_url}/items/{remote_id}"}
        state.answers[webhook_id] = (201, answer)
        return JSONResponse(answer, status_code=201)

    @app.put("/items/{remote_id}")
    async def replace(request: Request, remote_id: str) -> Response:
        body = await request.body()
        refusal = await admitted(request, body)
        if refusal is not None:
            return refusal
        if remote_id not in state.items:
            return problems.problem_response(404, "Not found", f"No item {remote_id}.")
        payload = await request.json()
        webhook_id = request.headers["webhook-id"]
        state.items[remote_id] = {**payload, "received_at": utcnow().isoformat(), "webhook_id": webhook_id}
        return JSONResponse({"id": remote_id, "url": f"{base_url}/items/{remote_id}"})

    @app.delete("/items/{remote_id}", status_code=204)
    async def delete(request: Request, remote_id: str) -> Response:
        refusal = await admitted(request, await request.body())
        if refusal is not None:
            return refusal
        if state.items.pop(remote_id, None) is None:
            return problems.problem_response(404, "Not found", f"No item {remote_id}.")
        return Response(status_code=204)

    @app.get("/items")
    async def items() -> dict:
        return {"items": list(state.items.values())}

    @app.get("/items/{remote_id}")
    async def item(remote_id: str) -> dict:
        if remote_id not in state.items:
            raise problems.Problem(404, "Not found", f"No item {remote_id}.")
        return state.items[remote_id]

    @app.get("/deliveries")
    async def deliveries() -> dict:
        return {"items": state.deliveries}

    @app.get("/behaviour")
    async def behaviour() -> Behaviour:
        return state.behaviour

    @app.put("/behaviour")
    async def set_behaviour(wanted: Annotated[Behaviour, Body()]) -> Behaviour:
        state.behaviour = wanted
        return wanted

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    app.add_api_route("/readyz", healthz, methods=["GET"])
    return app
