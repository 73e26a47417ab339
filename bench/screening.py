"""Screening speed: documents per second for 10 KB documents against a 10,000-word list, on one
core, and the time to rebuild a word list (what a replica does when an operator changes it).

    .venv/bin/python bench/screening.py [--documents 2000] [--words 10000]

Target (issue 3): at least 1,000 documents per second.
"""

import argparse
import random
import time

from services.review.domain.screening import WordList, screen_item

SAMPLE = (
    "根据《中华人民共和国政府信息公开条例》规定，现将本镇2026年财政预算执行情况公开如下。"
    "一、一般公共预算收入完成情况。全镇一般公共预算收入完成3,456万元，同比增长5.2%。"
    "各村（社区）要认真做好宣传解释工作，确保政策落实到位，严格执行预算管理制度，做好保密工作。\n"
)


def document(rng: random.Random, size: int = 10_000) -> str:
    text = []
    while sum(map(len, text)) < size:
        text.append(SAMPLE)
    contact = "联系人：党政办，联系电话：0376-2123456，邮箱 office@example.gov.cn。\n"
    return "".join(text)[: size - len(contact)] + contact


def word_list(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """Random terms, and a few that the documents do contain, so that matches are measured too."""
    alphabet = "拆迁补偿征地安置信访群体事件舆情维稳预警应急处置保障资金项目审计整改问题线索"
    found = [("预算管理制度", "flag", ""), ("宣传解释", "flag", "")]
    terms = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 6))) for _ in range(count - len(found))
    ]
    return found + [(term, "flag", "") for term in terms]


def main(documents: int, words: int) -> None:
    rng = random.Random(7)
    corpus = [document(rng) for _ in range(200)]
    entries = word_list(rng, words)
    cases = (("few findings", entries[2:]), ("a listed term in every paragraph", entries))
    for label, listed in cases:
        started = time.perf_counter()
        wordlist = WordList.of(listed)
        reload_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        findings = sum(
            len(screen_item("关于财政预算执行情况的公告", corpus[i % 200], wordlist))
            for i in range(documents)
        )
        elapsed = time.perf_counter() - started
        print(
            f"screening, {label}: {documents / elapsed:,.0f} documents/s of {len(corpus[0]) / 1000:.0f} KB against "
            f"{len(listed):,} words on one core ({elapsed / documents * 1000:.2f} ms each, "
            f"{findings / documents:.0f} findings each); word list rebuilt in {reload_ms:.0f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--words", type=int, default=10_000)
    args = parser.parse_args()
    main(args.documents, args.words)
