"""Screening speed on one core: ordinary 10 KB items against a 10,000-word list (documents per
second), and hostile 1 MB bodies — every walk-around of issue 10 repeated, and repetitions that
make naive rules quadratic — each screened whole (seconds each, and findings kept). Each figure
is the median of `--repeat` runs: the machine may be shared.

    .venv/bin/python bench/screening.py [--documents 1000] [--words 10000] [--size 1000000] [--repeat 3]

Targets (issue 10): at least 1,500 ordinary documents per second; every hostile body under 1 s.
"""

import argparse
import random
import statistics
import time

from services.review.domain.screening import WordList, screen_content
from shared.events import ItemContent

SAMPLE = (
    "根据《中华人民共和国政府信息公开条例》规定，现将本镇2026年财政预算执行情况公开如下。"
    "一、一般公共预算收入完成情况。全镇一般公共预算收入完成3,456万元，同比增长5.2%。"
    "各村（社区）要认真做好宣传解释工作，确保政策落实到位，严格执行预算管理制度，做好保密工作。\n"
)
CONTACT = "联系人：党政办，联系电话：0376-2123456，邮箱 office@example.gov.cn。\n"
# The same prose as a clerk formats it: a heading, a numbered list, bold; the portal renders it.
FORMATTED = (
    "## 一、预算执行情况\n\n1. 全镇一般公共预算收入完成**3,456万元**，同比增长5.2%。\n"
    "2. 各村（社区）要认真做好宣传解释工作，确保政策落实到位，严格执行预算管理制度。\n\n"
)


def repeated(unit: str):
    """A body of `unit` repeated until it has `size` characters."""
    return lambda size: (unit * (size // len(unit) + 1))[:size]


def nested(opening: str, closing: str):
    """Brackets nested half the body deep, then closed."""
    return lambda size: opening * (size // 2) + closing * (size // 2)


def single(unit: str, end: str):
    """One character repeated, then one that makes a rule look back over all of them."""
    return lambda size: unit * (size - len(end)) + end


# Every walk-around of issue 10 repeated, and repetitions that make naive rules (or the
# renderer and sanitiser) quadratic.
HOSTILE = {
    "nested brackets [": nested("[", "]"),
    "nested brackets (": nested("(", ")"),
    "nested brackets 【〖": nested("【〖", "〗】"),
    "( x 1M": repeated("("),
    '"a" * N + "@"': single("a", "@"),
    "a…a@ (no domain)": repeated("a"),
    "RTL overrides": repeated("\u202e年1★密秘\u202c"),
    "RTL overrides alone": repeated("\u202e"),
    "bidi embeddings": repeated("\u202b★秘密\u202c"),
    "bidi isolates with markings": repeated("\u2067★机密\u2069\u2066秘密★\u2069\u2068\u05d0★绝密\u2069"),
    "right-to-left marks": repeated("秘密\u200f，★\u200f"),
    "& x 1M": repeated("&"),
    "&#23494; x N": repeated("&#23494;"),
    "entities in a marking": repeated("秘&#23494;&starf;"),
    "emphasis soup *a*": repeated("*a*"),
    "markdown *_": repeated("*_"),
    "markdown ![": repeated("!["),
    "markdown > nesting": repeated(">"),
    "markdown table rows": repeated("|机|密★|\n"),
    "emphasis inside a marking": repeated("秘*密*★1年。"),
    "code span inside a marking": repeated("秘`密`★。"),
    "link inside a marking": repeated("秘[密]()★。"),
    "unclosed comments": repeated("<!--"),
    "unclosed tags": repeated("<a "),
    "bidi and invisible characters": repeated("机\u200e密\u2066\ufe0f★\U000e0041"),
    "combining marks, one long run": single("\u0301", "机密★"),
    "combining marks in markings": repeated("机\u0301\u0302密★"),
    "phone-number list": repeated("13800138000，"),
    "citizen ids": repeated("11010519491231002X；"),
    "e-mail addresses": repeated("a.b@c.gov.cn "),
    "mixed width forms": repeated("ＡＢＣ１２３机密★ｍｉｘ，ｈａｌｆ＆ｆｕｌｌ "),
    "compatibility ideographs": repeated("内部㊮料保密級別：機密"),
    "brackets": repeated("〖机密〗⟦绝密⟧《秘密》"),
}


def item(body: str, title: str = "关于财政预算执行情况的公告") -> ItemContent:
    return ItemContent(
        title=title,
        body=body,
        document_number="某政〔2026〕12号",
        category="budget",
        channels=("platform", "portal"),
        formed_on="2026-11-02",
        department="finance",
        department_name="财政所",
    )


def document(size: int = 10_000, sample: str = SAMPLE) -> str:
    return (sample * (size // len(sample) + 1))[: size - len(CONTACT)] + CONTACT


def word_list(rng: random.Random, count: int) -> WordList:
    """Random terms, and a few the documents contain, so that matches are measured too."""
    alphabet = "拆迁补偿征地安置信访群体事件舆情维稳预警应急处置保障资金项目审计整改问题线索"
    found = [("预算管理制度", "flag", ""), ("宣传解释", "flag", "")]
    terms = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6))) for _ in range(count - len(found))
    ]
    return WordList.of(found + [(term, "flag", "") for term in terms])


def median_seconds(work, repeat: int) -> tuple[float, float]:
    """The median wall time and the median CPU time of `repeat` runs of `work`: the machine may
    be shared, and then the wall time counts the waits for a core, the CPU time does not."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def ordinary(documents: int, words: WordList, repeat: int) -> None:
    for label, sample in (("plain prose", SAMPLE), ("Markdown-formatted", FORMATTED)):
        doc = item(document(sample=sample))
        findings = len(screen_content(doc, words))  # also warms the caches
        wall, cpu = median_seconds(
            lambda doc=doc: [screen_content(doc, words) for _ in range(documents)], repeat
        )
        print(
            f"ordinary 10 KB items, {label}: {documents / cpu:,.0f} documents/s on one core "
            f"({cpu / documents * 1000:.2f} ms CPU each; wall clock {documents / wall:,.0f}/s; "
            f"{findings} findings each; target 1,500/s)"
        )


def hostile(size: int, words: WordList, repeat: int) -> None:
    worst = 0.0
    for label, make in HOSTILE.items():
        doc = item(make(size))
        findings = screen_content(doc, words)
        wall, cpu = median_seconds(lambda doc=doc: screen_content(doc, words), repeat)
        worst = max(worst, cpu)
        blocked = any(f.severity == "block" for f in findings)
        print(
            f"  hostile 1 MB, {label:32s} {cpu:6.3f} s CPU ({wall:6.3f} s wall)  {len(findings):4d} findings kept"
            + ("  blocked" if blocked else "")
        )
    print(f"hostile 1 MB bodies: worst {worst:.3f} s CPU (median of {repeat} runs each; target under 1 s)")


def main(documents: int, words: int, size: int, repeat: int) -> None:
    rng = random.Random(7)
    started = time.perf_counter()
    listed = word_list(rng, words)
    print(f"word list of {words:,} terms compiled in {(time.perf_counter() - started) * 1000:.0f} ms")
    ordinary(documents, listed, repeat)
    hostile(size, listed, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the median is printed")
    args = parser.parse_args()
    main(args.documents, args.words, args.size, args.repeat)
