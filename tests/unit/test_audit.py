from services.review.domain.decisions import Decision, decide
from shared.ledger import GENESIS, entry_hash, link, verify
from tests.unit.factories import by, content, screened_item
from tests.unit.test_decisions import NOW


def chain_of(records: list[dict]) -> tuple[list[dict], dict]:
    """Entries as AuditChain.append writes them, and the head."""
    entries, prev = [], GENESIS
    for seq, record in enumerate(records, start=1):
        entries.append(link(record, seq, prev))
        prev = entries[-1]["hash"]
    return entries, {"seq": len(entries), "hash": prev}


def records() -> list[dict]:
    task, _, screening = screened_item("s1", 1, content(), levels=2)
    task, _, first = decide(task, by("张三", 1), Decision(decision="approve", comment="同意"), NOW)
    _, _, second = decide(task, by("李四", 2), Decision(decision="approve"), NOW)
    return [r.model_dump(mode="json") for r in (screening, first, second)]


def test_every_transition_records_who_what_and_on_what_basis():
    screening, first, second = records()
    assert (screening["actor"], screening["action"], screening["basis"]["outcome"]) == (
        "screening",
        "screened",
        "review.queued",
    )
    assert (first["actor"], first["action"], first["level"], first["basis"]["comment"]) == (
        "张三",
        "approve",
        1,
        "同意",
    )
    assert second["basis"]["outcome"] == "review.approved"


def test_an_intact_chain_verifies():
    entries, head = chain_of(records())
    assert verify(entries, head).verified == 3 and verify(entries, head).intact


def test_an_altered_entry_is_named():
    entries, head = chain_of(records())
    entries[1]["basis"]["comment"] = "不同意"
    verdict = verify(entries, head)
    assert (verdict.broken_at, verdict.verified) == (2, 1)


def test_a_deleted_entry_is_detected():
    entries, head = chain_of(records())
    assert verify([entries[0], entries[2]], head).broken_at == 2
    assert verify(entries[:2], head).broken_at == 3  # the last one, removed: the head still names it


def test_an_inserted_entry_is_detected():
    entries, head = chain_of(records())
    forged = {**entries[1], "actor": "王五"}
    forged["hash"] = entry_hash(forged)
    assert verify([entries[0], forged, entries[2]], head).broken_at == 3


def test_entries_appended_after_the_head_was_read_are_counted_not_broken():
    """verify reads the head first; what a reviewer appends meanwhile extends past it."""
    entries, _ = chain_of(records())
    head_then = {"seq": 1, "hash": entries[0]["hash"]}
    verdict = verify(entries, head_then)
    assert verdict.intact and (verdict.verified, verdict.appended) == (3, 2)


def test_a_head_that_names_another_entry_is_detected():
    entries, head = chain_of(records())
    verdict = verify(entries, {"seq": 2, "hash": head["hash"]})
    assert (verdict.broken_at, verdict.verified) == (2, 1)
