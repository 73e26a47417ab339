import contextlib

import httpx
import pytest
import uvicorn

from shared.auth import Principal, add_department, issue_token
from shared.domain import Role
from shared.mongo import connect, database_of
from shared.settings import Settings
from tests.support import Servers, eventually, isolated_settings, provide_servers


@pytest.fixture(scope="session")
def servers() -> Servers:
    with contextlib.ExitStack() as stack:
        yield provide_servers(stack)


@pytest.fixture
async def settings(servers: Servers) -> Settings:
    """Settings of a namespace of this test's own; its databases and queues go with it."""
    settings = isolated_settings(servers)
    yield settings
    await remove_namespace(settings)


async def remove_namespace(settings: Settings) -> None:
    client = connect(settings)
    try:
        for owner in ("ingest", "review", "publish", "stats", "identity"):
            await client.drop_database(settings.database_name(owner))
    finally:
        await client.close()
    import aio_pika

    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for service in ("ingest", "review", "publish", "stats"):
            for name in (f"{settings.namespace}.{service}", f"{settings.namespace}.{service}.dlq"):
                await channel.queue_delete(name)
        for name in ("events", "dlx"):
            await channel.exchange_delete(f"{settings.namespace}.{name}")


class Identities:
    """Tokens of departments, reviewers and operators in the test's namespace."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def _issue(self, action) -> str:
        client = connect(self.settings)
        try:
            return await action(database_of(client, self.settings, "identity"))
        finally:
            await client.close()

    async def department(self, code: str = "finance", name: str = "财政所") -> dict:
        token = await self._issue(lambda db: add_department(db, code, name))
        return {"Authorization": f"Bearer {token}"}

    async def reviewer(self, name: str, level: int) -> dict:
        principal = Principal(name=name, role=Role.REVIEWER, level=level)
        return {"Authorization": f"Bearer {await self._issue(lambda db: issue_token(db, principal))}"}

    async def operator(self, name: str = "运维") -> dict:
        principal = Principal(name=name, role=Role.OPERATOR)
        return {"Authorization": f"Bearer {await self._issue(lambda db: issue_token(db, principal))}"}


@pytest.fixture
def identities(settings: Settings) -> Identities:
    return Identities(settings)


@contextlib.asynccontextmanager
async def running(app):
    """A service app with its lifespan (broker, database, relay, workers) and an HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@contextlib.asynccontextmanager
async def serving(app, port: int):
    """An ASGI app on a real local port (a real HTTP peer for the service under test)."""
    import asyncio

    # A peer's keep-alive connection left open must not hold its shutdown (uvicorn waits forever).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, 10, "the HTTP peer to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
