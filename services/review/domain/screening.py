"""Screening: pure, fast detection of what must never go online (涉密信息不上网) and of personal
data a reviewer must see (Art. 15).

Text is folded to a canonical form with one `str.translate` — compatibility forms (full-width
letters and digits, circled ideographs) to plain ones, star-like glyphs to ★, traditional forms
of the marking words to simplified, letters to lower case — which keeps every character where
it stood. Markings and word-list entries are then matched with whitespace removed (real text
breaks them with spaces and line breaks); a match is mapped back to the original by bisection,
so a finding's span always points into the text the clerk wrote.
"""

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date

import ahocorasick
from stdnum import luhn
from stdnum.cn import ric

from shared.domain import Severity
from shared.events import Attachment, ScreeningFinding

_STARS = "★☆*＊✱✲✳✴✵✶✷✸✹✺✻✼✽✾✿❀❁❂❃❄❅❆❇❈❉❊⭐⭑⭒⋆∗⁎⁑٭※✦✧✩✪✫✬✭✮✯✰⍟🌟🟉🟊🟋🟌🟍🟎🟏🟐🟑🟒🟓🟔"
_TRADITIONAL = {
    "機": "机",
    "祕": "秘",
    "絕": "绝",
    "絶": "绝",
    "級": "级",
    "內": "内",
    "資": "资",
    "僅": "仅",
    "閱": "阅",
    "註": "注",
    "謹": "谨",
    "檔": "档",
}
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Punctuation in nearly every Chinese text, which no rule needs folded (the patterns accept both
# forms where it matters): leaving it out lets most documents skip folding altogether.
_EVERYDAY_PUNCTUATION = "，。：；（）！？、“”‘’《》【】—…·％　"


def _fold_table() -> dict[int, str]:
    """One character for one character, so that offsets never move."""
    table = {}
    for code in range(0x80, 0x10000):
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char)
        if len(folded) == 1 and folded != char and char not in _EVERYDAY_PUNCTUATION:
            table[code] = folded.lower()
    table.update({ord(k): v for k, v in _TRADITIONAL.items()})
    table.update({ord(s): "★" for s in _STARS})
    table.update({ord(c): " " for c in _INVISIBLE})  # invisible joiners count as white space
    return table


FOLD = _fold_table()
# Whether a text has anything to fold at all. Characters beyond the BMP are looked for with `in`,
# which CPython answers at once for a text that has none; in the character class they would make
# every search six times slower.
_FOLDABLE = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(FOLD) if code < 0x10000) + "]")
_FOLDABLE_ASTRAL = tuple(chr(code) for code in FOLD if code >= 0x10000)
_WHITESPACE = re.compile(r"\s+")


# Markdown bold (`**机密**`) is emphasis, not a star: blank it out before stars are folded.
_MARKDOWN_BOLD = re.compile(r"\*\*")


def fold(original: str) -> str:
    """The canonical form, as long as the original (letters lower-cased where that keeps length)."""
    folded = _MARKDOWN_BOLD.sub("  ", original) if "**" in original else original
    if _FOLDABLE.search(folded) or any(char in folded for char in _FOLDABLE_ASTRAL):
        folded = folded.translate(FOLD)
    lowered = folded.lower()
    return lowered if len(lowered) == len(folded) else folded


@dataclass
class FoldedText:
    """The folded text (same length as the original) and, lazily, the same without white space."""

    original: str
    folded: str
    compact: str = ""
    _removed: list[int] = field(default_factory=list)  # folded indices of removed white space

    @classmethod
    def of(cls, original: str) -> "FoldedText":
        folded = fold(original)
        compact = "".join(folded.split())  # str.split and re's \s agree on what white space is
        return cls(original, folded, compact)

    def span_of_compact(self, start: int, end: int) -> tuple[int, int]:
        """Where the compact span [start, end) stands in the original."""
        if not self._removed and len(self.compact) != len(self.folded):
            self._removed = [i for m in _WHITESPACE.finditer(self.folded) for i in range(m.start(), m.end())]
        return self._original_index(start), self._original_index(end - 1) + 1

    def _original_index(self, compact_index: int) -> int:
        # The n-th kept character: step past every removed position at or before it.
        index = compact_index
        while True:
            skipped = bisect_right(self._removed, index)
            if compact_index + skipped == index:
                return index
            index = compact_index + skipped


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    pattern: re.Pattern
    message: str
    needles: tuple[str, ...] = ("密",)  # a text without any of these cannot match: skip the scan


_LEVEL = "(?:绝密|机密|秘密)"


MARKINGS: tuple[Rule, ...] = (
    Rule(
        "secrecy-marking",
        Severity.BLOCK,
        re.compile(_LEVEL + "★"),
        "国家秘密标志（密级★保密期限）：涉密信息不上网。",
    ),
    Rule(
        "secrecy-level-header",
        Severity.BLOCK,
        re.compile("(?:密级|保密级别|保密等级)[:：]?" + _LEVEL),
        "密级标注：涉密信息不上网。",
    ),
    Rule(
        "secrecy-level-bracketed",
        Severity.BLOCK,
        re.compile("[【\\[（(〔［「『]" + _LEVEL + "[】\\]）)〕］」』]"),
        "加括号的密级标志：涉密信息不上网。",
    ),
    Rule(
        "internal-material",
        Severity.BLOCK,
        re.compile("内部资料|内部文件|注意保密|内部使用"),
        "内部资料标志：内部材料不公开。",
        ("内部", "保密"),
    ),
)

_NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER = r"(?<![0-9])", r"(?![0-9])"
_ID_18 = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{17}[0-9x]" + _NOT_DIGIT_AFTER)
_ID_15 = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{15}" + _NOT_DIGIT_AFTER)
_MOBILE = re.compile(_NOT_DIGIT_BEFORE + r"(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}" + _NOT_DIGIT_AFTER)
_LANDLINE = re.compile(
    _NOT_DIGIT_BEFORE + r"(?:[(（]0[0-9]{2,3}[)）]|0[0-9]{2,3}[- ]?)[ ]?[2-9][0-9]{6,7}" + _NOT_DIGIT_AFTER
)
_CARD = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{4}(?:[- ]?[0-9]{4}){3}(?:[- ]?[0-9]{1,3})?" + _NOT_DIGIT_AFTER)
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")


def _valid_id_18(number: str) -> bool:
    number = number.upper()
    try:
        ric.get_birth_date(number)
    except Exception:
        return False
    return number[-1] == ric.calc_check_digit(number)


def _valid_id_15(number: str) -> bool:
    try:
        born = date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    except ValueError:
        return False
    return born <= date.today()


def _valid_card(number: str) -> bool:
    digits = re.sub(r"[- ]", "", number)
    return 16 <= len(digits) <= 19 and luhn.is_valid(digits)


# Numbers with their separators, found in one fast pass; the number rules look inside them only.
_NUMBER_RUN = re.compile(r"[0-9(（+][0-9()（） +-]*[0-9x]")

# Personal data: (rule, pattern, validator, why). Earlier rules win where spans overlap.
NUMBERS = (
    ("citizen-id", _ID_18, _valid_id_18, "公民身份号码（校验位和出生日期有效）：属个人隐私。"),
    ("citizen-id", _ID_15, _valid_id_15, "15位公民身份号码（出生日期有效）：属个人隐私。"),
    ("bank-card", _CARD, _valid_card, "银行卡号（Luhn校验有效）：属个人隐私。"),
    ("mobile-number", _MOBILE, None, "手机号码：属个人隐私，请核实是否为公开的办公电话。"),
    ("landline-number", _LANDLINE, None, "固定电话号码：请核实是否为公开的办公电话。"),
)
EMAIL = ("email-address", "电子邮箱地址：请核实是否为公开的办公邮箱。")


@dataclass(frozen=True)
class WordList:
    """Sensitive terms of a deployment or a department, matched all at once (Aho-Corasick)."""

    automaton: ahocorasick.Automaton | None

    @classmethod
    def of(cls, entries: list[tuple[str, Severity, str]]) -> "WordList":
        """From (word, severity, note) entries; words are folded like the text they are found in."""
        automaton = ahocorasick.Automaton()
        for word, severity, note in entries:
            key = _WHITESPACE.sub("", fold(word))
            if key:
                automaton.add_word(key, (len(key), word, Severity(severity), note))
        if not len(automaton):
            return cls(None)
        automaton.make_automaton()
        return cls(automaton)


NO_WORDS = WordList(None)


def _finding(field_name: str, original: str, start: int, end: int, rule: str, severity: Severity, why: str):
    # Built from values screening itself produced: validating them again would only cost time.
    return ScreeningFinding.model_construct(
        id=f"{field_name}:{start}:{rule}",
        rule=rule,
        severity=severity,
        field=field_name,
        start=start,
        end=end,
        excerpt=original[start:end],
        message=why,
    )


def _numbers(field_name: str, text: FoldedText) -> list[ScreeningFinding]:
    findings: list[ScreeningFinding] = []
    for run in _NUMBER_RUN.finditer(text.folded):
        if run.end() - run.start() < 7:
            continue  # shorter than any number a rule looks for
        taken: list[tuple[int, int]] = []
        for rule, pattern, valid, why in NUMBERS:
            for match in pattern.finditer(text.folded, run.start(), run.end()):
                span = match.span()
                if any(span[0] < e and s < span[1] for s, e in taken) or (valid and not valid(match.group())):
                    continue
                taken.append(span)
                findings.append(_finding(field_name, text.original, *span, rule, Severity.FLAG, why))
    return findings


def screen(field_name: str, original: str, words: WordList = NO_WORDS) -> list[ScreeningFinding]:
    text = FoldedText.of(original)
    findings = []
    for rule in MARKINGS:
        if not any(needle in text.compact for needle in rule.needles):
            continue
        for match in rule.pattern.finditer(text.compact):
            start, end = text.span_of_compact(match.start(), match.end())
            findings.append(
                _finding(field_name, original, start, end, rule.name, rule.severity, rule.message)
            )
    findings += _numbers(field_name, text)
    if "@" in text.folded:
        for match in _EMAIL.finditer(text.folded):
            findings.append(_finding(field_name, original, *match.span(), EMAIL[0], Severity.FLAG, EMAIL[1]))
    if words.automaton is not None:
        for last, (length, word, severity, note) in words.automaton.iter(text.compact):
            start, end = text.span_of_compact(last - length + 1, last + 1)
            why = f"敏感词“{word}”" + (f"：{note}" if note else "")
            findings.append(_finding(field_name, original, start, end, "word-list", severity, why))
    return findings


def screen_item(title: str, body: str, words: WordList = NO_WORDS) -> list[ScreeningFinding]:
    return screen("title", title, words) + screen("body", body, words)


def screen_attachments(
    attachments: tuple[Attachment, ...], words: WordList = NO_WORDS
) -> list[ScreeningFinding]:
    """Each attachment's text screened like the body (a marking in it blocks the item); what could
    not be read of one is flagged, so that a reviewer looks at the file itself."""
    findings = []
    for number, attachment in enumerate(attachments):
        field_name = f"attachments.{number}"
        findings += screen(field_name, attachment.text, words)
        if attachment.unread:
            why = f"附件“{attachment.filename}”：{attachment.unread}"
            findings.append(
                _finding(field_name, attachment.text, 0, 0, "attachment-unread", Severity.FLAG, why)
            )
    return findings


def blocks(findings: list[ScreeningFinding]) -> bool:
    return any(f.severity == Severity.BLOCK for f in findings)
