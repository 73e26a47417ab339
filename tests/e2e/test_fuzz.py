"""Schemathesis against ingest's and stats' own OpenAPI, each running as a process on the real
servers: generated valid and invalid requests, a bounded number per operation. No answer may be
a 5xx, and every answer must match what the OpenAPI document declares. (Whether every
schema-valid request is accepted is not checked: "not in the future" and "each channel once"
are rules no OpenAPI schema can state.)"""

import contextlib
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import _start, _wait_ready
from tests.support import free_port, isolated_settings, run_cli, settings_env

pytestmark = pytest.mark.e2e


# Who fuzzes each service: its writers. (Publish is left out: fuzzed subscriptions would send
# deliveries to whatever URLs the fuzzer makes up.)
IDENTITY = {
    "ingest": ("admin", "department", "add", "fuzz", "--name", "模糊测试"),
    "stats": ("admin", "operator", "add", "模糊测试"),
}
OPERATIONS = {
    "ingest": {
        "/v1/submissions",
        "/v1/submissions/{submission_id}",
        "/v1/attachments",
        "/v1/attachments/{attachment_id}",
    },
    "stats": {"/v1/stats", "/v1/reports/annual", "/v1/reports/annual/{year}/inputs", "/dashboard"},
}


@contextlib.contextmanager
def service(servers, name: str):
    unthrottled = {"ingest_writes_per_minute": 1e6, "ingest_write_burst": 1_000_000}
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
    with service(servers, name) as (url, token):
        fuzz(url, token, OPERATIONS[name])


def fuzz(url: str, token: str, expected: set[str]) -> None:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= expected
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {token}"},
                excluded_checks=[positive_data_acceptance],
            )

        call()
