"""The MongoDB factory. Only operations that work on MongoDB 7 and on FerretDB 1.24 are used."""

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.settings import Settings

__all__ = ["DuplicateKeyError", "connect", "database_of"]


def connect(settings: Settings) -> AsyncMongoClient:
    """A client for the running event loop; create it inside the loop (lifespan or fixture)."""
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000, appname="gongkai"
    )


def database_of(client: AsyncMongoClient, settings: Settings, owner: str) -> AsyncDatabase:
    return client[settings.database_name(owner)]
