"""Reading uploaded files off the event loop: each file is read in a worker process with a time
and a memory budget (shared.budget), so that a hostile PDF or DOCX never freezes ingest's API. A
file whose reading does not finish within the budget is recorded as unread, which screening
blocks: what it holds cannot be known."""

from services.ingest.attachments import read_parts
from services.ingest.parts import Limits, ReadFile
from shared.budget import Budget, OverBudget, WorkerPool
from shared.domain import AttachmentPartKind as Kind
from shared.settings import Settings


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_entries=settings.attachment_max_entries,
        max_uncompressed_bytes=settings.attachment_max_uncompressed_mb * 2**20,
        max_ratio=settings.attachment_max_compression_ratio,
        max_pdf_pages=settings.attachment_max_pdf_pages,
        max_pdf_objects=settings.attachment_max_pdf_objects,
    )


class AttachmentReader:
    def __init__(self, settings: Settings):
        self.limits = limits_of(settings)
        budget = Budget(settings.attachment_read_seconds, settings.attachment_read_memory_mb * 2**20)
        self._pool = WorkerPool(settings.attachment_workers, budget, preload=("services.ingest.attachments",))

    async def read(self, data: bytes, media_type: str) -> ReadFile:
        try:
            return await self._pool.run(read_parts, data, media_type, self.limits)
        except (OverBudget, RuntimeError) as why:
            reason = why.reason if isinstance(why, OverBudget) else str(why)[:200]
            return ReadFile(
                ((Kind.UNREAD, f"附件未能在限定的时间和内存内读取（{reason}），请拆分或精简后重新上传"),)
            )

    def close(self) -> None:
        self._pool.close()
