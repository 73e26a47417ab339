"""Conditional GETs as RFC 9110 has them, checked on a small app."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from services.publish.caching import conditional, etag_of, http_date

CHANGED = datetime(2026, 11, 5, 8, 30, 15, 250_000, tzinfo=UTC)
app = FastAPI()


@app.get("/thing")
async def thing(request: Request):
    return conditional(request, JSONResponse({"a": 1}), CHANGED)


client = TestClient(app)


def test_validators_are_sent_and_a_current_copy_gets_304():
    fresh = client.get("/thing")
    assert fresh.headers["etag"] == etag_of(fresh.content)
    assert fresh.headers["last-modified"] == "Thu, 05 Nov 2026 08:30:15 GMT"
    for headers in (
        {"If-None-Match": fresh.headers["etag"]},
        {"If-None-Match": f'"x", W/{fresh.headers["etag"]}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Thu, 05 Nov 2026 08:30:15 GMT"},
        {"If-Modified-Since": "Fri, 06 Nov 2026 00:00:00 GMT"},
    ):
        answer = client.get("/thing", headers=headers)
        assert answer.status_code == 304 and answer.content == b"", headers
        assert answer.headers["etag"] == fresh.headers["etag"]


def test_a_change_not_yet_settled_is_never_answered_304_on_a_date():
    recent = FastAPI()
    changed = datetime.now(UTC)

    @recent.get("/thing")
    async def thing(request: Request):
        return conditional(request, JSONResponse({"a": 1}), changed)

    http = TestClient(recent)
    fresh = http.get("/thing")
    assert parsedate_to_datetime(fresh.headers["last-modified"]) < changed.replace(microsecond=0)
    assert http.get("/thing", headers={"If-Modified-Since": http_date(changed)}).status_code == 200
    assert http.get("/thing", headers={"If-None-Match": fresh.headers["etag"]}).status_code == 304


def test_a_stale_or_unreadable_condition_gets_the_whole_body():
    for headers in (
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": "Thu, 05 Nov 2026 08:30:14 GMT"},
        {"If-Modified-Since": "not a date"},
        {"If-None-Match": '"other"', "If-Modified-Since": "Fri, 06 Nov 2026 00:00:00 GMT"},  # ETag wins
    ):
        answer = client.get("/thing", headers=headers)
        assert answer.status_code == 200 and answer.json() == {"a": 1}, headers
