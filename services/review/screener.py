"""Screening off the event loop: each item is screened in a worker process with a time and a
memory budget (shared.budget), so that a hostile body never freezes review's console, API or
consumer. An item whose screening does not finish within the budget is blocked — it cannot be
known to be free of markings — and the clerk is told to split it."""

from services.review.domain.screening import WordList, screen_content
from shared.budget import Budget, OverBudget, WorkerPool
from shared.domain import Severity
from shared.events import ItemContent, ScreeningFinding

WORKERS = 2
BUDGET = Budget(seconds=20, memory_bytes=1536 * 2**20)
OVER_BUDGET_RULE = "screening-incomplete"

# In each worker: the word lists it has compiled, by (department, versions).
_compiled: dict[tuple, WordList] = {}


def screen_in_worker(content: ItemContent, words_key: tuple, entries: list) -> list[ScreeningFinding]:
    words = _compiled.get(words_key)
    if words is None:
        _compiled.clear()  # one deployment's lists at a time: an old version is not asked again
        words = _compiled[words_key] = WordList.of(entries)
    return screen_content(content, words)


class Screener:
    def __init__(self, workers: int = WORKERS, budget: Budget = BUDGET):
        self._pool = WorkerPool(workers, budget, preload=(__name__,))

    async def findings(self, content: ItemContent, words_key: tuple, entries: list) -> list[ScreeningFinding]:
        try:
            return await self._pool.run(screen_in_worker, content, words_key, entries)
        except OverBudget as why:
            return [
                ScreeningFinding(
                    id=f"body:0:{OVER_BUDGET_RULE}",
                    rule=OVER_BUDGET_RULE,
                    severity=Severity.BLOCK,
                    field="body",
                    start=0,
                    end=0,
                    excerpt="",
                    message=f"自动审查未能完成（{why.reason}），无法确认不含涉密标志：请精简或拆分后重新报送。",
                )
            ]

    def close(self) -> None:
        self._pool.close()
