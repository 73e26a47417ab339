"""The MongoDB factory. Only operations that work on MongoDB 7 and on FerretDB 1.24 are used.

Every write that can race is made safe by the store alone (DESIGN.md, "Storage"): a version
guard, a claim with a lease, a unique `_id`, a conditional delete. That takes a server on which
each single-document write is atomic, as MongoDB's is: the filter is true of the document the
write changes. Stock FerretDB 1.24 reads, applies and writes back without isolation; the
project's build (scripts/servers.sh, scripts/ferretdb/*.patch) makes every write back a
compare-and-swap and reports itself with an `-atomic` suffix in `buildInfo`'s `ferretdbVersion`.
"""

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.settings import Settings

__all__ = ["DuplicateKeyError", "connect", "database_of", "require_atomic_writes"]

ATOMIC_BUILD = "-atomic"  # in the project's FerretDB build's version (scripts/servers.sh)


def connect(settings: Settings) -> AsyncMongoClient:
    """A client for the running event loop; create it inside the loop (lifespan or fixture)."""
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000, appname="gongkai"
    )


def database_of(client: AsyncMongoClient, settings: Settings, owner: str) -> AsyncDatabase:
    return client[settings.database_name(owner)]


async def require_atomic_writes(client: AsyncMongoClient) -> None:
    """Refuse to start on a server whose single-document writes are not atomic (stock FerretDB):
    there replicas, and even one process's concurrent tasks, would lose updates silently."""
    info = await client.admin.command("buildInfo")
    version = info.get("ferretdbVersion")
    if version is not None and ATOMIC_BUILD not in version:
        raise RuntimeError(
            f"FerretDB {version} is not the project's build, whose writes are atomic per document: "
            "build it with scripts/servers.sh (scripts/ferretdb/*.patch), or use MongoDB 7"
        )
