"""How the annual report and the dashboard are written out: Markdown and HTML from templates
(HTML autoescaped, so operators' text stays text), charts as plain HTML bars. Pure."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.stats.domain import Figures
from services.stats.report import APPLICANTS, PROCEEDINGS, RESULTS, AnnualReport, table_b_rows, table_c_row
from shared.domain import CATEGORY_LABELS, CHANNEL_LABELS, Category

_TEMPLATES = Path(__file__).parent / "web" / "templates"
_ENV = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=False,
)
MONTHS = [f"{m:02d}" for m in range(1, 13)]


def report_text(report: AnnualReport, template: str) -> str:
    """The report as `report.md` or `report.html` writes it."""
    return _ENV.get_template(template).render(
        r=report,
        applicant_labels=[*APPLICANTS.values(), "总计"],
        table_b=table_b_rows(report.table_b),
        proceeding_labels=[
            f"{name} {label}" for name in PROCEEDINGS.values() for label in [*RESULTS.values(), "总计"]
        ],
        table_c=table_c_row(report.table_c),
    )


def _share(part: int, largest: int) -> float:
    return round(100 * part / largest, 1) if largest else 0.0


def dashboard_html(f: Figures) -> str:
    """The year's figures as charts: by month and channel, by category, timeliness."""
    months = f.published.by_month_and_channel
    tallest = max((sum(months.get(m, {}).values()) for m in MONTHS), default=0)
    by_month = [
        {
            "month": int(m),
            "bars": [
                {
                    "channel": c,
                    "label": CHANNEL_LABELS[c],
                    "n": months.get(m, {}).get(c, 0),
                    "height": _share(months.get(m, {}).get(c, 0), tallest),
                }
                for c in CHANNEL_LABELS
            ],
            "total": sum(months.get(m, {}).values()),
        }
        for m in MONTHS
    ]
    ranked = sorted(f.published.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    widest = ranked[0][1] if ranked else 0
    by_category = [
        {"label": CATEGORY_LABELS[Category(c)], "n": n, "width": _share(n, widest)} for c, n in ranked
    ]
    return _ENV.get_template("dashboard.html").render(
        f=f,
        by_month=by_month,
        by_category=by_category,
        channels=CHANNEL_LABELS,
        on_time_share=_share(f.timeliness.on_time, f.timeliness.on_time + f.timeliness.late),
    )
