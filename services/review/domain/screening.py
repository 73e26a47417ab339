"""Screening: pure, linear-time detection of what must never go online (涉密信息不上网) and of
personal data a reviewer must see (Art. 15).

Every field that goes online is screened — title, body, document number, each attachment's file
name and every part of its text — in every form a reader may see it in, each folded to one
canonical text (canonical.py). Markings and listed words are matched with white space removed,
numbers with it kept. A finding's span points into the raw text the clerk wrote, whichever form
it was found in, so redaction works on what the reviewer sees.

Findings are bounded: the first `KEPT_PER_RULE` of each rule in each field are kept, the rest
counted in one summary finding, so a hostile list of 25,000 phone numbers makes a task of a few
kilobytes, not 18 MB.
"""

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import NamedTuple

import ahocorasick
from stdnum import luhn
from stdnum.cn import ric

from services.review.domain.canonical import Canonical, as_written, forms
from shared.domain import ATTACHMENT_PART_LABELS, AttachmentPartKind, Severity
from shared.events import Attachment, ItemContent, ScreeningFinding

KEPT_PER_RULE = 20  # findings of one rule in one field that are kept one by one
KEPT_PER_ITEM = 400  # findings of an item kept one by one; beyond, only counted
EXCERPT_CHARS = 100


@dataclass(frozen=True)
class PublishedField:
    """One field that goes online, as screening sees it and the reviewer is shown it."""

    name: str  # title, body, document_number, summary, keywords, attachments.N.filename, attachments.N.<part kind>
    label: str
    text: str
    markdown: bool = False  # rendered from Markdown on the portal (the body)
    redactable: bool = False  # title and body; a file goes online whole, so its parts are not


def published_fields(content: ItemContent) -> list[PublishedField]:
    fields = [
        PublishedField("title", "标题", content.title, redactable=True),
        PublishedField("body", "正文", content.body, markdown=True, redactable=True),
        PublishedField("document_number", "文号", content.document_number or ""),
        # The catalogue's texts go online in the 信息索引 table (DOMAIN.md "The catalogue").
        PublishedField("summary", "内容概述", content.summary or ""),
        PublishedField("keywords", "关键词", "；".join(content.keywords)),
        PublishedField("disclosure_ground", "公开属性依据", content.disclosure_ground or ""),
    ]
    for number, attachment in enumerate(content.attachments):
        prefix, label = f"attachments.{number}", f"附件{number + 1}"
        fields.append(PublishedField(f"{prefix}.filename", f"{label} · 文件名", attachment.filename))
        fields += [
            PublishedField(
                f"{prefix}.{part.kind}", f"{label} · {ATTACHMENT_PART_LABELS[part.kind]}", part.text
            )
            for part in attachment.readable_parts()
        ]
    return [f for f in fields if f.text]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    pattern: re.Pattern
    message: str
    needles: tuple[str, ...]  # a text without any of these cannot match: skip the scan


_LEVEL = "(?:绝密|机密|秘密)"
_LEVELS = ("绝密", "机密", "秘密")


def _of_category(category: str) -> str:
    """The characters of a Unicode general category (brackets: all in the BMP), escaped for a
    character class."""
    return "".join(re.escape(chr(c)) for c in range(0x10000) if unicodedata.category(chr(c)) == category)


# Any bracket around a level, matching or not ([ ( { < fold from their full-width forms).
# Every character Unicode calls opening or closing punctuation (Ps, Pe: ⸨⸩ ⟬⟭ ⦓⦔ ⧼⧽ ⌈⌉ …),
# and the angle brackets and guillemets it calls otherwise.
_OPENING = "[\\[(<{【〔〖〘〚「『《〈⟦⟨⟪⟮⦃⦅⦗❨❪❬❮❰❲❴⁅⸢⸤«‹" + _of_category("Ps") + "]"
_CLOSING = "[\\])>}】〕〗〙〛」』》〉⟧⟩⟫⟯⦄⦆⦘❩❫❭❯❱❳❵⁆⸣⸥»›" + _of_category("Pe") + "]"
# Between a 密级 header and its level, or a level and its star: colons, dashes and dots,
# look-alikes included (not the comma or bracket of a sentence that explains the levels:
# 密级（绝密、机密、秘密）).
# The middle dots and bullets that look like · and • (the katakana middle dot is what many
# Chinese input methods type for ·), and the long sound mark that looks like a dash.
_SEPARATOR = "[:∶꞉ː˸︓﹕׃፡⁚—–―‐‑‒~～·•・‧∙⋅⸱᛫⦁◦⁃ー-]{0,3}"

MARKINGS: tuple[Rule, ...] = (
    Rule(
        "secrecy-marking",
        Severity.BLOCK,
        re.compile(_LEVEL + _SEPARATOR + "★"),
        "国家秘密标志（密级★保密期限）：涉密信息不上网。",
        _LEVELS,
    ),
    Rule(
        "secrecy-level-header",
        Severity.BLOCK,
        re.compile("(?:密级|保密级别|保密等级)" + _SEPARATOR + _LEVEL),
        "密级标注：涉密信息不上网。",
        ("密级", "密等级"),  # 保密级别 has 密级 in it
    ),
    Rule(
        "secrecy-level-bracketed",
        Severity.BLOCK,
        re.compile(_OPENING + _LEVEL + _CLOSING),
        "加括号的密级标志：涉密信息不上网。",
        _LEVELS,
    ),
    Rule(
        "internal-material",
        Severity.BLOCK,
        # 内部资料性出版物 is the legal name of a kind of publication (and of the licence for
        # one), not a marking
        re.compile("内部资料(?!性出版物)|内部文件|注意保密|内部使用"),
        "内部资料标志：内部材料不公开。",
        ("内部", "保密"),
    ),
)

# Every number rule starts at the start of a run of the characters numbers are written with and
# looks no further than a number's length: never a scan from each character to the end.
_NOT_DIGIT_BEFORE, _NOT_DIGIT_AFTER = r"(?<![0-9])", r"(?![0-9])"
_ID_18 = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{17}[0-9x]" + _NOT_DIGIT_AFTER)
_ID_15 = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{15}" + _NOT_DIGIT_AFTER)
_MOBILE = re.compile(_NOT_DIGIT_BEFORE + r"(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}" + _NOT_DIGIT_AFTER)
_LANDLINE = re.compile(
    _NOT_DIGIT_BEFORE + r"(?:[(]0[0-9]{2,3}[)]|0[0-9]{2,3}[- ]?)[ ]?[2-9][0-9]{6,7}" + _NOT_DIGIT_AFTER
)
_CARD = re.compile(_NOT_DIGIT_BEFORE + r"[0-9]{4}(?:[- ]?[0-9]{4}){3}(?:[- ]?[0-9]{1,3})?" + _NOT_DIGIT_AFTER)
# A local part starts where a run of its characters starts, so "a" * 100_000 + "@" is one try.
# Its first character comes before the look-behind (that the one before it is not of the local
# part), so that the engine skips from one such character to the next without trying the
# look-behind at every character of a Chinese text.
_EMAIL = re.compile(r"[a-z0-9._%+-](?<![a-z0-9._%+-].)[a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
# Numbers with their separators, each run taken whole (so scanned once); the rules look inside.
_NUMBER_RUN = re.compile(r"[0-9() +x-]{7,}")


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


# Personal data: (rule, pattern, validator, why). Earlier rules win where spans overlap.
NUMBERS = (
    ("citizen-id", _ID_18, _valid_id_18, "公民身份号码（校验位和出生日期有效）：属个人隐私。"),
    ("citizen-id", _ID_15, _valid_id_15, "15位公民身份号码（出生日期有效）：属个人隐私。"),
    ("bank-card", _CARD, _valid_card, "银行卡号（Luhn校验有效）：属个人隐私。"),
    ("mobile-number", _MOBILE, None, "手机号码：属个人隐私，请核实是否为公开的办公电话。"),
    ("landline-number", _LANDLINE, None, "固定电话号码：请核实是否为公开的办公电话。"),
)
EMAIL = ("email-address", Severity.FLAG, "电子邮箱地址：请核实是否为公开的办公邮箱。")


@dataclass(frozen=True)
class WordList:
    """Sensitive terms of a deployment or a department, matched all at once (Aho-Corasick)."""

    automaton: ahocorasick.Automaton | None

    @classmethod
    def of(cls, entries: list[tuple[str, Severity, str]]) -> "WordList":
        """From (word, severity, note) entries; words are folded like the text they are found in.
        Each word's message is made here, once, not at each of its matches."""
        automaton = ahocorasick.Automaton()
        for word, severity, note in entries:
            key = as_written(word).compact
            if key:
                why = f"敏感词“{word}”" + (f"：{note}" if note else "")
                automaton.add_word(key, (len(key), Severity(severity), why))
        if not len(automaton):
            return cls(None)
        automaton.make_automaton()
        return cls(automaton)


NO_WORDS = WordList(None)


class Match(NamedTuple):
    """A rule's match in a canonical form: its span there (of the compact text or the visible).
    A tuple: a hostile list of numbers makes a hundred thousand of them."""

    rule: str
    severity: Severity
    message: str
    start: int
    end: int
    compact: bool
    times: int = 1  # how many matches it stands for
    listed: bool = True  # one match, to be listed; or only the count of the rest


def _bounded(rule: str, severity: Severity, why: str, found: Iterator[re.Match], compact: bool):
    """The first KEPT_PER_RULE of a rule's matches one by one, then the rest only counted: a
    body of two hundred thousand markings is not walked through in Python, match by match."""
    for m in islice(found, KEPT_PER_RULE):
        yield Match(rule, severity, why, m.start(), m.end(), compact)
    if rest := sum(1 for _ in found):
        yield Match(rule, severity, why, 0, 0, compact, rest, listed=False)


def _markings(text: Canonical) -> Iterator[Match]:
    for rule in MARKINGS:
        if any(needle in text.compact for needle in rule.needles):
            found = rule.pattern.finditer(text.compact)
            yield from _bounded(rule.name, rule.severity, rule.message, found, True)


def _numbers(text: Canonical) -> Iterator[Match]:
    for run in _NUMBER_RUN.finditer(text.visible):
        # What earlier rules took of the run, one byte a character: a list of 80,000 phone
        # numbers is one run, and looking each match up among all taken before was quadratic.
        taken = bytearray(run.end() - run.start())
        for rule, pattern, valid, why in NUMBERS:
            for match in pattern.finditer(text.visible, run.start(), run.end()):
                start, end = match.start() - run.start(), match.end() - run.start()
                if any(taken[start:end]) or (valid and not valid(match.group())):
                    continue
                taken[start:end] = b"\x01" * (end - start)
                yield Match(rule, Severity.FLAG, why, *match.span(), False)


def _emails(text: Canonical) -> Iterator[Match]:
    if "@" in text.visible:
        yield from _bounded(*EMAIL, _EMAIL.finditer(text.visible), False)


def _listed_words(text: Canonical, words: WordList) -> Iterator[Match]:
    if words.automaton is None:
        return
    found = words.automaton.iter(text.compact)
    for last, (length, severity, why) in islice(found, KEPT_PER_RULE):
        yield Match("word-list", severity, why, last - length + 1, last + 1, True)
    # the rest only counted, with the first that blocks (if one does) standing for them
    rest, worst = 0, None
    for _, (_, severity, why) in found:
        rest += 1
        if worst is None or (severity == Severity.BLOCK and worst[0] != Severity.BLOCK):
            worst = (severity, why)
    if worst:
        yield Match("word-list", *worst, 0, 0, True, rest, listed=False)


def _matches(text: Canonical, words: WordList) -> Iterator[Match]:
    yield from _markings(text)
    yield from _numbers(text)
    yield from _emails(text)
    yield from _listed_words(text, words)


def _finding(field: str, raw: str, start: int, end: int, rule: str, severity: Severity, why: str):
    excerpt = raw[start:end]
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[: EXCERPT_CHARS - 1] + "…"
    # Built from values screening itself produced: validating them again would only cost time.
    return ScreeningFinding.model_construct(
        id=f"{field}:{start}:{rule}",
        rule=rule,
        severity=severity,
        field=field,
        start=start,
        end=end,
        excerpt=excerpt,
        message=why,
    )


class Findings:
    """What screening found in one item, kept within bounds: one by one up to the limits, then
    counted, each rule's excess in one summary finding of the rule's severity."""

    def __init__(self):
        self.kept: list[ScreeningFinding] = []
        self._spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._found: dict[tuple[str, str], int] = {}  # per (field, rule): the most any form showed
        self._kinds: dict[tuple[str, str], tuple[Severity, str]] = {}

    def add_field(self, field: PublishedField, words: WordList) -> None:
        for text in forms(field.text, field.markdown):
            seen: dict[tuple[str, str], int] = {}
            for match in _matches(text, words):
                key = (field.name, match.rule)
                seen[key] = count = seen.get(key, 0) + match.times
                if match.severity == Severity.BLOCK or key not in self._kinds:
                    # a summary is as severe as the worst it counts: a listed word that blocks,
                    # found after twenty that only flag, still blocks the item
                    self._kinds[key] = (match.severity, match.message)
                if match.listed and count <= KEPT_PER_RULE and self._room(key):
                    self._keep(key, field, text, match)
            for key, count in seen.items():
                self._found[key] = max(self._found.get(key, 0), count)

    def _room(self, key: tuple[str, str]) -> bool:
        """Whether a finding of `key` may still be kept one by one. Once a rule has its share
        from one form, another form's matches are only counted: mapping each back to the raw
        text just to find it the same occurrence would cost the most of all."""
        return len(self._spans.get(key, ())) < KEPT_PER_RULE and len(self.kept) < KEPT_PER_ITEM

    def _keep(self, key: tuple[str, str], field: PublishedField, text: Canonical, match: Match) -> None:
        start, end = text.raw_span(match.start, match.end, match.compact)
        spans = self._spans.setdefault(key, [])
        if any((start < e and s < end) or (start, end) == (s, e) for s, e in spans):
            return  # the same occurrence, seen in another form of the field
        spans.append((start, end))
        self.kept.append(
            _finding(field.name, field.text, start, end, match.rule, match.severity, match.message)
        )

    def flag(self, field: str, rule: str, why: str, severity: Severity = Severity.FLAG) -> None:
        self.kept.append(_finding(field, "", 0, 0, rule, severity, why))

    def result(self) -> list[ScreeningFinding]:
        summaries = []
        for key, found in self._found.items():
            listed = len(self._spans.get(key, []))
            if found > listed:
                severity, why = self._kinds[key]
                field, rule = key
                summaries.append(
                    _finding(
                        field, "", 0, 0, rule, severity, f"另有{found - listed}处同类内容未逐一列出（{why}）"
                    ).model_copy(update={"id": f"{field}:more:{rule}"})
                )
        return self.kept + summaries


def screen(
    field_name: str, text: str, words: WordList = NO_WORDS, markdown: bool = False
) -> list[ScreeningFinding]:
    """One field's findings (the unit of the tests)."""
    findings = Findings()
    findings.add_field(PublishedField(field_name, field_name, text, markdown), words)
    return findings.result()


def screen_content(content: ItemContent, words: WordList = NO_WORDS) -> list[ScreeningFinding]:
    """Every published field of an item, and a flag for each file (or part) that could not be read."""
    findings = Findings()
    for field in published_fields(content):
        findings.add_field(field, words)
    _flag_unread(findings, content.attachments)
    return findings.result()


UNREAD_PART_RULE = "attachment-part-unread"


def _flag_unread(findings: Findings, attachments: tuple[Attachment, ...]) -> None:
    """A file a reviewer must look at is flagged (an image: its kind is known, its text is not
    read); content inside a file that could not be read at all (an embedded object, an attached
    file, a part over budget) blocks it, since it cannot be known to be free of markings."""
    for number, attachment in enumerate(attachments):
        if attachment.unread:
            why = f"附件“{attachment.filename}”：{attachment.unread}"
            findings.flag(f"attachments.{number}", "attachment-unread", why)
        for part in attachment.parts:
            if part.kind == AttachmentPartKind.UNREAD:
                why = f"附件“{attachment.filename}”中有未能读取的内容（{part.text[:200]}），无法确认不含涉密标志：请删除或转为正文后重新报送。"
                findings.flag(f"attachments.{number}.unread", UNREAD_PART_RULE, why, Severity.BLOCK)


def blocks(findings: list[ScreeningFinding]) -> bool:
    return any(f.severity == Severity.BLOCK for f in findings)
