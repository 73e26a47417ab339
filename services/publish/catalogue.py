"""The portal's 政府信息公开目录: what a reader narrows the public items to (category, theme,
department, year of publication) and searches for, as one query on `portal_items`.

Search is a literal match of every term (split at white space) in the title, the body, the 文号,
the 索引号, the keywords or the summary, case-insensitive. Chinese has no spaces between words,
so a segmenter (jieba and the like) would decide what a reader may find; a literal substring
finds every occurrence of what was typed, a 文号 fragment such as 〔2018〕3号 or an 索引号's serial
included, and a township's catalogue of some thousand items is searched in milliseconds."""

import re
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain import CHINA, DEPARTMENT_CODE, Category, Theme

SEARCHED = ("title", "body", "document_number", "index_number", "keywords", "summary")
MAX_TERMS = 5
EARLIEST_YEAR = 2008  # the first Regulations on the Disclosure of Government Information took effect


class CatalogueQuery(BaseModel):
    """What the 目录 page was asked for; every part is optional and they narrow together."""

    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    theme: Theme | None = None
    department: Annotated[str, StringConstraints(pattern=DEPARTMENT_CODE)] | None = None
    year: int | None = Field(None, ge=EARLIEST_YEAR, le=2100)
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    page: int = Field(1, ge=1, le=10_000)

    def terms(self) -> list[str]:
        return self.q.split()[:MAX_TERMS]

    def narrowed(self) -> bool:
        return any((self.category, self.theme, self.department, self.year, self.terms()))

    def filter(self) -> dict:
        """The query on `portal_items` (the caller adds that only public items are listed)."""
        conditions: list[dict] = [
            {name: getattr(self, name).value}
            for name in ("category", "theme")
            if getattr(self, name) is not None
        ]
        if self.department:
            conditions.append({"department": self.department})
        if self.year:
            conditions.append(
                {"published_at": {"$gte": _new_year(self.year), "$lt": _new_year(self.year + 1)}}
            )
        for term in self.terms():
            pattern = {"$regex": re.escape(term), "$options": "i"}
            conditions.append({"$or": [{field: pattern} for field in SEARCHED]})
        return {"$and": conditions} if conditions else {}

    def link(self, **changed) -> str:
        """The query string of this query with some parts changed (None drops a part)."""
        parts = {**self.model_dump(mode="json", exclude_defaults=True), **changed}
        return urlencode({k: v for k, v in parts.items() if v not in (None, "")})


def _new_year(year: int) -> datetime:
    """The first moment of `year` in China, where the office's years are counted."""
    return datetime(year, 1, 1, tzinfo=CHINA)
