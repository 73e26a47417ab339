"""Properties that must hold for every input, not just the examples we thought of."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.review.domain.decisions import Decision, DecisionRefused, ReviewState, decide
from services.review.domain.screening import screen_content
from tests.unit.factories import by, content, screened_item

NOW = datetime(2026, 11, 3, tzinfo=UTC)
LEVELS = ["绝密", "机密", "秘密", "絕密", "機密", "祕密"]
GAPS = st.text(alphabet=" \t\n\u3000\u00a0\u200b\r", max_size=3)
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def markings(draw) -> str:
    """A secrecy marking as real text carries it: stray white space, any star, wide digits."""
    level = draw(st.sampled_from(LEVELS))
    star = draw(st.sampled_from("★☆*＊✱⭐🌟※✩⚝✡🌠🟀⯨"))
    period = draw(st.sampled_from(["", "10年", "长期", "2026年12月31日", "5年"]))
    if draw(st.booleans()):
        period = period.translate(FULL_WIDTH_DIGITS)
    form = draw(st.sampled_from(["star", "header", "bracket"]))
    opening, closing = draw(st.sampled_from(["【】", "〔〕", "[]", "（）", "()"]))
    chars = {
        "star": [level[0], level[1], star, *period],
        "header": list(f"密级：{level}"),
        "bracket": [opening, *level, closing],
    }[form]
    return "".join(c + draw(GAPS) for c in chars)


ordinary = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@given(marking=markings(), before=ordinary, after=ordinary, in_title=st.booleans())
@settings(max_examples=300, deadline=None)
def test_no_marked_item_is_ever_approved(marking, before, after, in_title):
    title, body = ("通知", before + marking + after) if not in_title else (before[:50] + marking, "正文")
    task, event, _ = screened_item("s1", 1, content(title=title, body=body), levels=2)
    assert event.type == "review.rejected" and task.state == ReviewState.REJECTED
    for reviewer, level in (("张三", 1), ("李四", 2)):
        try:
            task, event, _ = decide(task, by(reviewer, level), Decision(decision="approve"), NOW)
        except DecisionRefused:
            continue
        assert event.type != "review.approved"


@given(text=ordinary, title=st.text(max_size=50))
@settings(max_examples=300, deadline=None)
def test_screening_never_crashes_and_spans_point_into_the_text(text, title):
    for finding in screen_content(content(title=title or "通知", body=text or "正文")):
        source = (title or "通知") if finding.field == "title" else (text or "正文")
        assert 0 <= finding.start < finding.end <= len(source)
        excerpt = source[finding.start : finding.end]
        assert finding.excerpt == excerpt or finding.excerpt == excerpt[:99] + "…"


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_redacted_spans_never_reach_publish(data):
    body = data.draw(st.text(alphabet="公开信息电话号码0123456789 ，。", min_size=5, max_size=120))
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(1, 20)), max_size=4))
    redactions = [{"field": "body", "start": s, "end": min(len(body), s + n)} for s, n in spans]
    task, _, _ = screened_item("s1", 1, content(body=body), levels=2)
    if task.state != ReviewState.PENDING:
        return
    flags = [{"finding_id": f.id, "reason": "已核实"} for f in task.findings]
    first = Decision(decision="approve", redactions=redactions, accepted_flags=flags)
    task, _, _ = decide(task, by("张三", 1), first, NOW)
    _, approved, _ = decide(task, by("李四", 2), Decision(decision="approve"), NOW)
    published = approved.data.content.body
    for r in redactions:
        assert set(published[r["start"] : r["end"]]) == {"■"}
    assert len(published) == len(body)
