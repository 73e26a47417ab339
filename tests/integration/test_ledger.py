"""The ledger against the real server: a check that runs while entries are appended."""

import asyncio

from shared.ledger import Ledger
from shared.mongo import connect, database_of


async def test_verify_while_entries_are_appended_is_never_broken(settings):
    client = connect(settings)
    try:
        ledger = Ledger(database_of(client, settings, "review").audit)
        await ledger.append({"record_id": "r0", "n": 0})
        appending = asyncio.create_task(_append(ledger, 80))
        verdicts = []
        while not appending.done():
            verdict, head = await ledger.verify()
            verdicts.append(verdict)
            assert verdict.intact, verdict
            assert verdict.verified == head["seq"] + verdict.appended
        await appending
        final, head = await ledger.verify()
        assert final.intact and final.verified == head["seq"] == 81 and final.appended == 0
        assert len(verdicts) > 1
    finally:
        await client.close()


async def _append(ledger: Ledger, count: int) -> None:
    for n in range(1, count + 1):
        await ledger.append({"record_id": f"r{n}", "n": n})
        await asyncio.sleep(0)
