"""Schemathesis against ingest's own OpenAPI, with ingest running as a process on the real
servers: generated valid and invalid requests, a bounded number per operation. No answer may be
a 5xx, and every answer must match what the OpenAPI document declares. (Whether every
schema-valid request is accepted is not checked: "not in the future" and "each channel once"
are rules no OpenAPI schema can state.)"""

import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import _start, _wait_ready
from tests.support import free_port, isolated_settings, run_cli, settings_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ingest(servers):
    unthrottled = {"ingest_writes_per_minute": 1e6, "ingest_write_burst": 1_000_000}
    service_settings = isolated_settings(servers, ingest_port=free_port(), **unthrottled)
    process = _start("ingest-fuzz", [sys.executable, "-m", "services.ingest"], settings_env(service_settings))
    url = f"http://127.0.0.1:{service_settings.ingest_port}"
    try:
        _wait_ready({"ingest-fuzz": url}, {"ingest-fuzz": process})
        created = run_cli(service_settings, "admin", "department", "add", "fuzz", "--name", "模糊测试")
        token = created.stdout.strip().splitlines()[-1]
        yield url, token
    finally:
        process.terminate()
        process.wait(15)


def test_no_request_is_answered_with_a_server_error_or_off_contract(ingest):
    url, token = ingest
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/submissions",
        "/v1/submissions/{submission_id}",
        "/v1/attachments",
        "/v1/attachments/{attachment_id}",
    }
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
