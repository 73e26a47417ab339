"""The MongoDB factory. Only operations that work on MongoDB 7 and on FerretDB 1.24 are used."""

import weakref

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.settings import Settings

__all__ = ["DuplicateKeyError", "connect", "database_of", "isolates_updates"]

_isolation: weakref.WeakKeyDictionary[AsyncMongoClient, bool] = weakref.WeakKeyDictionary()


def connect(settings: Settings) -> AsyncMongoClient:
    """A client for the running event loop; create it inside the loop (lifespan or fixture)."""
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000, appname="gongkai"
    )


def database_of(client: AsyncMongoClient, settings: Settings, owner: str) -> AsyncDatabase:
    return client[settings.database_name(owner)]


async def isolates_updates(client: AsyncMongoClient) -> bool:
    """Whether the server applies a filtered update atomically. MongoDB does. FerretDB 1.24 reads
    the document and writes it back without isolation, and its SQLite backend uses no index for a
    filter other than `{_id: …}` alone; there a guard beside `_id` costs a full scan and buys
    nothing, and the per-process document lock (shared/locks.py) is what keeps updates whole."""
    if client not in _isolation:
        info = await client.admin.command("buildInfo")
        _isolation[client] = "ferretdbVersion" not in info
    return _isolation[client]
