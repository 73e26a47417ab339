"""Conditional GETs (RFC 9110 §13) for what republishers and feed readers poll: the feeds, the
pull API and the item pages answer an `ETag` (a hash of the exact body) and a `Last-Modified`, and
`304 Not Modified` to a request whose validators still hold, so that polling every minute costs a
header, not a body. `If-None-Match` wins over `If-Modified-Since` when both are sent.

An HTTP date counts whole seconds, so a copy taken in the second of a change cannot tell whether a
second change in that same second came before or after it. While the latest change is younger
than SETTLE (its second possibly still taking changes, or changes stamped in it not yet written),
Last-Modified is given one second earlier and If-Modified-Since never answers 304: a client may
fetch a body it already had, and never keeps a stale one."""

import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response

# Public, and to be revalidated on every use: a withdrawal must reach readers at once.
CACHE_CONTROL = "public, no-cache"
VALIDATORS = ("etag", "last-modified", "cache-control", "vary")
SETTLE = timedelta(seconds=3)  # beyond a change's second and the time its writes take to land


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def http_date(at: datetime) -> str:
    return format_datetime(at.astimezone(UTC), usegmt=True)


def _settled(last_modified: datetime, now: datetime) -> bool:
    return now - last_modified >= SETTLE


def _still_valid(request: Request, etag: str, last_modified: datetime | None, now: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags  # the weak comparison, as GET uses it
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None or last_modified is None or not _settled(last_modified, now):
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def conditional(request: Request, response: Response, last_modified: datetime | None) -> Response:
    """`response` with its validators, or a 304 with them when the client's copy is current."""
    etag, now = etag_of(response.body), datetime.now(UTC)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    if last_modified is not None:
        shown = last_modified if _settled(last_modified, now) else last_modified - timedelta(seconds=1)
        response.headers["Last-Modified"] = http_date(shown)
    if request.method in ("GET", "HEAD") and _still_valid(request, etag, last_modified, now):
        kept = {k: v for k, v in response.headers.items() if k.lower() in VALIDATORS}
        return Response(status_code=304, headers=kept)
    return response
