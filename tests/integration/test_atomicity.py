"""The store is atomic per document, as the code's guards assume (DESIGN.md, "Storage"): several
OS processes race on the same documents, and no update is lost and no race is won twice.

MongoDB gives this; stock FerretDB 1.24.2 does not (it reads, applies the update in memory and
writes back by `_id` alone), and these tests fail on it. The project's FerretDB build
(scripts/servers.sh, scripts/ferretdb/*.patch) makes every write back a compare-and-swap.

Each race runs in separate processes (spawned, each with its own client and connection pool),
started together at a barrier; the assertions are about counts and owners, never about time.
"""

import uuid

import pymongo
import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from tests.support import at_once

pytestmark = pytest.mark.integration

PROCESSES = 4


# --- the racers: each runs in a process of its own -----------------------------------------------


def _client(url: str) -> pymongo.MongoClient:
    # a retried write could apply twice and hide (or fake) a lost race: every attempt is the test's own
    return pymongo.MongoClient(url, retryWrites=False, retryReads=False)


def _racer(index: int, ready, target, url: str, db: str, args: tuple):
    client = _client(url)
    try:
        collection = client[db]["race"]
        collection.find_one({})  # connected before the start
        ready()
        return target(collection, index, *args)
    finally:
        client.close()


def _increments(collection, index: int, rounds: int) -> int:
    for _ in range(rounds):
        collection.update_one({"_id": "counter"}, {"$inc": {"n": 1}})
        collection.update_many({"group": "g"}, {"$inc": {"n": 1}})
        collection.find_one_and_update({"_id": "fam"}, {"$inc": {"n": 1}})
    return rounds


def _guarded(collection, index: int, target: int) -> list[int]:
    """Read the version, then update only if it is still that version: the versions this process won."""
    won = []
    while True:
        doc = collection.find_one({"_id": "doc"})
        version = doc["version"]
        if version >= target:
            return won
        result = collection.update_one(
            {"_id": "doc", "version": version},
            {"$set": {"version": version + 1}, "$push": {"history": {"v": version + 1, "by": index}}},
        )
        if result.modified_count == 1:
            won.append(version + 1)


def _claims(collection, index: int) -> list[int]:
    """Claim unowned items until none is left: the items this process claimed."""
    claimed = []
    while True:
        doc = collection.find_one_and_update(
            {"kind": "item", "claimed_by": None},
            {"$set": {"claimed_by": index}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return claimed
        assert doc["claimed_by"] == index, doc
        claimed.append(doc["_id"])


def _pops(collection, index: int) -> list[int]:
    """find_one_and_delete from a queue until it is empty: the items this process took."""
    taken = []
    while (doc := collection.find_one_and_delete({"kind": "queued"})) is not None:
        taken.append(doc["_id"])
    return taken


def _upserts(collection, index: int, keys: int) -> dict:
    """Every process upserts the same fresh keys in the same order; no upsert may fail or be lost."""
    errors = 0
    for k in range(keys):
        try:
            collection.update_one({"_id": f"u-{k}"}, {"$inc": {"n": 1}}, upsert=True)
        except DuplicateKeyError:
            errors += 1
        try:
            collection.find_one_and_update(
                {"_id": f"f-{k}"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            errors += 1
    return {"duplicate_key_errors": errors}


def _take_or_delete(collection, index: int, items: int) -> dict:
    """Even processes take ready items, odd ones delete ready items: each item goes one way only."""
    outcome = {"taken": [], "deleted": []}
    for i in range(items):
        if index % 2 == 0:
            doc = collection.find_one_and_update({"_id": i, "state": "ready"}, {"$set": {"state": "taken"}})
            if doc is not None:
                outcome["taken"].append(i)
        else:
            if collection.delete_one({"_id": i, "state": "ready"}).deleted_count == 1:
                outcome["deleted"].append(i)
    return outcome


def _state_flips(collection, index: int, items: int) -> dict:
    """Process 0 deletes every ready item with delete_many while the others flip items to held:
    an item that was held (flip reported) must never be deleted."""
    if index == 0:
        deleted = 0
        for _ in range(20):
            deleted += collection.delete_many({"kind": "flip", "state": "ready"}).deleted_count
        return {"deleted": deleted}
    held = []
    for i in range(index - 1, items, PROCESSES - 1):
        if collection.update_one(
            {"_id": f"x-{i}", "state": "ready"}, {"$set": {"state": "held"}}
        ).modified_count:
            held.append(f"x-{i}")
    return {"held": held}


# --- the tests --------------------------------------------------------------------------------------


@pytest.fixture
def store(servers):
    """A database of this test's own on the suite's server; what the server is, for the messages."""
    name = "t" + uuid.uuid4().hex[:12] + "_atomicity"
    client = _client(servers.mongodb_url)
    info = client.admin.command("buildInfo")
    server = (
        f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else f"MongoDB {info['version']}"
    )
    try:
        yield servers.mongodb_url, name, client[name]["race"], server
    finally:
        client.drop_database(name)
        client.close()


def race(store, target, *args) -> list:
    """Run `target` in PROCESSES processes at once; their results, in process order."""
    url, db, _, _ = store
    return at_once(_racer, PROCESSES, target, url, db, args)


def test_the_server_reports_its_build(store):
    """On FerretDB, the suite must run on the project's build: stock FerretDB is not atomic."""
    _, _, _, server = store
    if server.startswith("FerretDB"):
        assert "-atomic" in server, (
            f"{server} is not the project's build (scripts/servers.sh applies scripts/ferretdb/*.patch)"
        )


def test_increments_from_many_processes_are_all_counted(store):
    _, _, collection, server = store
    rounds = 100
    collection.insert_many(
        [{"_id": "counter", "n": 0}, {"_id": "fam", "n": 0}]
        + [{"_id": f"g-{i}", "group": "g", "n": 0} for i in range(3)]
    )
    race(store, _increments, rounds)
    expected = PROCESSES * rounds
    counts = {d["_id"]: d["n"] for d in collection.find({})}
    assert counts == {"counter": expected, "fam": expected, **{f"g-{i}": expected for i in range(3)}}, server


def test_a_version_guard_has_exactly_one_winner_per_version(store):
    _, _, collection, server = store
    target = 150
    collection.insert_one({"_id": "doc", "version": 0, "history": []})
    won = race(store, _guarded, target)
    wins = sorted(v for w in won for v in w)
    assert wins == list(range(1, target + 1)), f"{server}: versions won twice or never"
    doc = collection.find_one({"_id": "doc"})
    assert doc["version"] == target, server
    assert [h["v"] for h in doc["history"]] == list(range(1, target + 1)), f"{server}: a winner's write lost"
    assert all(h["v"] in won[h["by"]] for h in doc["history"]), server


def test_each_item_is_claimed_exactly_once(store):
    _, _, collection, server = store
    items = 200
    collection.insert_many([{"_id": i, "kind": "item", "claimed_by": None} for i in range(items)])
    claimed = race(store, _claims)
    all_claims = sorted(i for c in claimed for i in c)
    assert all_claims == list(range(items)), f"{server}: items claimed twice or never"
    owners = {d["_id"]: d["claimed_by"] for d in collection.find({"kind": "item"})}
    assert all(owners[i] == p for p, c in enumerate(claimed) for i in c), f"{server}: a claim was overwritten"


def test_each_queued_item_is_taken_exactly_once(store):
    _, _, collection, server = store
    items = 200
    collection.insert_many([{"_id": i, "kind": "queued"} for i in range(items)])
    taken = race(store, _pops)
    assert sorted(i for t in taken for i in t) == list(range(items)), f"{server}: items taken twice or never"
    assert collection.count_documents({}) == 0


def test_racing_upserts_insert_once_and_count_every_increment(store):
    _, _, collection, server = store
    keys = 100
    collection.insert_one({"_id": "seed"})  # the collection exists before the race
    answers = race(store, _upserts, keys)
    assert sum(a["duplicate_key_errors"] for a in answers) == 0, f"{server}: an upsert lost its race"
    counts = {d["_id"]: d["n"] for d in collection.find({"_id": {"$ne": "seed"}})}
    assert counts == {f"{p}-{k}": PROCESSES for p in ("u", "f") for k in range(keys)}, server


def test_a_filtered_delete_and_an_update_never_both_win(store):
    _, _, collection, server = store
    items = 200
    collection.insert_many([{"_id": i, "state": "ready"} for i in range(items)])
    answers = race(store, _take_or_delete, items)
    taken = [i for a in answers for i in a["taken"]]
    deleted = [i for a in answers for i in a["deleted"]]
    assert sorted(taken + deleted) == list(range(items)), f"{server}: an item went both ways, or twice"
    remaining = {d["_id"]: d["state"] for d in collection.find({})}
    assert remaining == dict.fromkeys(taken, "taken"), f"{server}: a taken item was deleted"


def test_delete_many_never_deletes_a_document_changed_since_it_matched(store):
    _, _, collection, server = store
    items = 300
    collection.insert_many([{"_id": f"x-{i}", "kind": "flip", "state": "ready"} for i in range(items)])
    answers = race(store, _state_flips, items)
    held = [i for a in answers[1:] for i in a["held"]]
    remaining = {d["_id"]: d["state"] for d in collection.find({})}
    assert set(remaining) >= set(held), f"{server}: held documents were deleted"
    assert answers[0]["deleted"] + len(remaining) == items, f"{server}: deletions miscounted"
