"""A killed ingest process loses nothing: a submission acknowledged with 202 is announced after
restart even though the process died before it could publish."""

import signal
import sys

import httpx
import pytest

from shared.mongo import connect, database_of
from tests.e2e.conftest import _start, _wait_ready
from tests.e2e.test_pipeline import item
from tests.support import EventTap, eventually, free_port, isolated_settings, run_cli, settings_env

pytestmark = pytest.mark.e2e


async def test_a_killed_ingest_process_loses_no_submission(servers):
    settings = isolated_settings(servers, ingest_port=free_port())
    env, url = settings_env(settings), f"http://127.0.0.1:{settings.ingest_port}"
    command = [sys.executable, "-m", "services.ingest"]
    process = _start("ingest-killed", command, env)
    try:
        _wait_ready({"ingest-killed": url}, {"ingest-killed": process})
        token = run_cli(settings, "admin", "department", "add", "office", "--name", "党政办").stdout.split()[
            -1
        ]
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                f"{url}/v1/submissions",
                json=item("关于秋季防火的通知"),
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 202
        sid = answer.json()["id"]

        # No queue takes submission.* yet, so the broker returns every publish of it: the event
        # must stay staged in the submission. Then the process dies without any chance to react.
        client = connect(settings)
        try:
            submissions = database_of(client, settings, "ingest").submissions

            async def staged():
                doc = await submissions.find_one({"_id": sid})
                return doc and doc["pending_events"]

            [waiting] = await eventually(staged, 10, "the event staged with the submission")
            assert waiting["type"] == "submission.received"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            await client.close()

        async with EventTap(settings, "submission.*") as tap:  # a consumer appears
            process = _start("ingest-killed", command, env)
            _wait_ready({"ingest-killed": url}, {"ingest-killed": process})
            [received] = await tap.wait_for("submission.received", sid, seconds=30)
            assert received["event_id"] == waiting["event_id"]
            assert received["data"]["content"]["title"] == "关于秋季防火的通知"
    finally:
        process.terminate()
        process.wait(15)
