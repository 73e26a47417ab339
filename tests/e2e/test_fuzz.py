"""Schemathesis against every service's own OpenAPI (ingest, review, publish, stats), each
running as a process on the real servers: generated valid and invalid requests, a bounded number
per operation. No answer may be a 5xx, and every answer must match what the OpenAPI document
declares, and every request the schema calls valid must be accepted but for the few rules no
schema can state (UNSTATED_RULES)."""

import contextlib
import http.server
import re
import sys
import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import _start, _wait_ready
from tests.support import free_port, isolated_settings, run_cli, settings_env

pytestmark = pytest.mark.e2e


# Who fuzzes each service: its writers. Publish's subscriptions are all pointed at a receiver of
# the test's own, so that no delivery goes to a URL the fuzzer made up.
IDENTITY = {
    "ingest": ("admin", "department", "add", "fuzz", "--name", "模糊测试"),
    "review": ("admin", "reviewer", "add", "模糊测试", "--level", "1"),
    "publish": ("admin", "operator", "add", "模糊测试"),
    "stats": ("admin", "operator", "add", "模糊测试"),
}
OPERATIONS = {
    "ingest": {
        "/v1/submissions",
        "/v1/submissions/{submission_id}",
        "/v1/attachments",
        "/v1/attachments/{attachment_id}",
    },
    "review": {"/v1/reviews", "/v1/reviews/{submission_id}", "/v1/reviews/{submission_id}/decisions"},
    "publish": {
        "/v1/published",
        "/v1/items/{item_id}",
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}",
        "/portal/",
    },
    "stats": {
        "/v1/stats",
        "/v1/reports/annual",
        "/v1/reports/annual/{year}/inputs",
        "/v1/reports/annual/{year}/final",
        "/v1/reports/published",
        "/dashboard",
    },
}


class Receiver(http.server.BaseHTTPRequestHandler):
    """Takes every delivery and says so."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()


@contextlib.contextmanager
def service(servers, name: str):
    unthrottled = {
        "ingest_writes_per_minute": 1e6,
        "ingest_write_burst": 1_000_000,
        "office_name": "模糊测试镇人民政府",
    }
    service_settings = isolated_settings(servers, **{f"{name}_port": free_port()}, **unthrottled)
    process = _start(
        f"{name}-fuzz", [sys.executable, "-m", f"services.{name}"], settings_env(service_settings)
    )
    url = f"http://127.0.0.1:{service_settings.port_of(name)}"
    try:
        _wait_ready({f"{name}-fuzz": url}, {f"{name}-fuzz": process})
        created = run_cli(service_settings, *IDENTITY[name])
        yield url, created.stdout.strip().splitlines()[-1]
    finally:
        process.terminate()
        process.wait(15)


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_no_request_is_answered_with_a_server_error_or_off_contract(servers, name):
    with service(servers, name) as (url, token), receiver() as hook:
        fuzz(url, token, OPERATIONS[name], hook)


# The rules no OpenAPI schema can state (every other rule is in the schema, so schema-valid data
# must be accepted): a field and the reason its refusal gives.
UNSTATED_RULES = [
    ("formed_on", "cannot be in the future"),  # depends on today
    (r"files\.\d+", "judged by its content|empty"),  # what a file holds, not its form
    (r"attachments\.\d+", "no such upload"),  # ids must name uploads that exist
    # the report form's cross-checks (勾稽关系), and figures that depend on what was published
    (r"table_[abc]\..+", "must equal|makes no 规章|现行有效件数"),
    (r"regulatory_document\.kind", "makes no 规章"),
    (
        r"validity\.(expires_on|repealed_on)",
        "before the document took effect",
    ),  # two dates' order  # the office's level is the deployment's setting
]


def refused_for_an_unstated_rule(response) -> bool:
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or [{}]
    return all(
        any(
            re.fullmatch(field, e.get("field", "")) and re.search(reason, e.get("reason", ""))
            for field, reason in UNSTATED_RULES
        )
        for e in errors
    )


def valid_data_is_accepted(ctx, response, case):
    """Schemathesis's positive_data_acceptance, but for the refusals UNSTATED_RULES names."""
    try:
        positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if not refused_for_an_unstated_rule(response):
            raise


def fuzz(url: str, token: str, expected: set[str], hook: str) -> None:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= expected
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            if case.path == "/v1/subscriptions" and case.method == "POST" and isinstance(case.body, dict):
                case.body["url"] = hook
            case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance],
                additional_checks=[valid_data_is_accepted],
            )

        call()
