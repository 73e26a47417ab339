"""The audit trail (谁审查、谁负责): every screening result and decision — who, when, what, on what
basis — appended to a ledger (shared.ledger), so that any alteration, insertion or deletion of
an entry is detected by `gongkai audit verify`."""

from pydantic import AwareDatetime, BaseModel

from shared.ledger import Ledger


class AuditRecord(BaseModel):
    """What happened, as the service that did it states it."""

    record_id: str  # unique per record: a redelivered record is appended once
    at: AwareDatetime
    actor: str  # a reviewer's name, or "screening"
    action: str  # screened, approve, reject, return, withdrawn, …
    submission_id: str
    level: int | None = None
    basis: dict = {}  # the findings, reason, comment, redactions, accepted flags


class AuditEntry(AuditRecord):
    seq: int
    prev_hash: str
    hash: str


class AuditChain(Ledger):
    async def append(self, raw: dict) -> None:
        """Append a record once (a redelivered one is recognised by its record_id)."""
        await super().append(AuditRecord.model_validate(raw).model_dump(mode="json"))

    async def of_submission(self, submission_id: str) -> list[dict]:
        entries = self.collection.find({"submission_id": submission_id})
        return sorted(await entries.to_list(), key=lambda e: e["_id"])
