"""Screening: pure, fast detection of what must never go online (涉密信息不上网).

Text is first folded to a canonical form — compatibility forms (full-width letters and digits)
to plain ones, traditional characters of the marking words to simplified, star-like glyphs to ★,
and whitespace dropped — while every folded character remembers where it stood in the original,
so that a finding's span points into the text the clerk wrote.
"""

import re
import unicodedata
from dataclasses import dataclass

from shared.domain import Severity
from shared.events import ScreeningFinding

_TRADITIONAL = str.maketrans(
    {
        "機": "机",
        "祕": "秘",
        "絕": "绝",
        "級": "级",
        "內": "内",
        "資": "资",
        "診": "诊",
        "頁": "页",
        "檔": "档",
        "僅": "仅",
        "閱": "阅",
    }
)
_STARS = set("★☆*＊✱✲✳✴✵✶✷✸✹✺✻✼✽✾✿❀❁❂❃❄❅❆❇❈❉❊⭐⋆∗⁎⁑٭※")


@dataclass(frozen=True)
class FoldedText:
    text: str
    origin: tuple[int, ...]  # origin[i]: index in the original of folded character i

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


def fold(original: str) -> FoldedText:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(original):
        if char.isspace() or unicodedata.category(char) == "Cf":  # spaces, line breaks, zero-widths
            continue
        if char in _STARS:
            folded = "★"
        else:
            folded = unicodedata.normalize("NFKC", char).translate(_TRADITIONAL)
        for piece in folded:
            chars.append(piece)
            origin.append(index)
    return FoldedText("".join(chars), tuple(origin))


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    pattern: re.Pattern
    message: str


_LEVEL = "(?:绝密|机密|秘密)"
RULES: tuple[Rule, ...] = (
    Rule(
        "secrecy-marking",
        Severity.BLOCK,
        re.compile(_LEVEL + "★"),
        "国家秘密标志（密级★保密期限）：涉密信息不上网。",
    ),
    Rule(
        "secrecy-level-header",
        Severity.BLOCK,
        re.compile("密级[:：]?" + _LEVEL),
        "密级标注：涉密信息不上网。",
    ),
    Rule(
        "internal-material",
        Severity.BLOCK,
        re.compile("内部资料|内部文件|注意保密|内部使用"),
        "内部资料标志：内部材料不公开。",
    ),
)


def screen(field: str, original: str, rules: tuple[Rule, ...] = RULES) -> list[ScreeningFinding]:
    folded = fold(original)
    findings = []
    for rule in rules:
        for match in rule.pattern.finditer(folded.text):
            start, end = folded.span(match.start(), match.end())
            findings.append(
                ScreeningFinding(
                    id=f"{field}:{start}:{rule.name}",
                    rule=rule.name,
                    severity=rule.severity,
                    field=field,
                    start=start,
                    end=end,
                    excerpt=original[start:end],
                    message=rule.message,
                )
            )
    return findings


def screen_item(title: str, body: str) -> list[ScreeningFinding]:
    return screen("title", title) + screen("body", body)


def blocks(findings: list[ScreeningFinding]) -> bool:
    return any(f.severity == Severity.BLOCK for f in findings)
