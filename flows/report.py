"""The supervisor's report of a batch, as markdown: the Prefect artifact and `hukou status` show the same page.

No Prefect import here, so the command line can render it without starting an orchestrator.
"""

from __future__ import annotations

from typing import Any


def report_markdown(summary: dict[str, Any]) -> str:
    """Progress, re-scan list (box and page), damage, fields, links and speed of one batch summary."""
    s = summary
    loc = s["location"]
    lines = [
        f"# Batch {s['batch_id']}",
        "",
        f"Box {loc.get('box', '')} · fonds {loc.get('fonds', '')} · volume {loc.get('volume', '')} · status {s['status']}",
        "",
        "| pages | done | quarantined | failed | needs re-scan | archived | pages/minute |",
        "|---|---|---|---|---|---|---|",
        f"| {s['pages']} | {s['done']} | {s['quarantined']} | {s['failed']} | {s['needs_rescan']} | {s['archived']} "
        f"| {s['pages_per_minute']:.1f} |",
        "",
        "## Pages needing re-scan or attention",
        "",
    ]
    if s["attention"]:
        lines += ["| box | page | file | status | reasons |", "|---|---|---|---|---|"]
        lines += [f"| {p['box']} | {p['page_no']} | {p['source_file']} | {p['status']} | {_cell('; '.join(p['reasons']))} |"
                  for p in s["attention"]]
    else:
        lines.append("None.")
    lines += ["", "## Damage", "", "| kind | pages |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["damage"].items())]
    lines += ["", "## Links", "", "| status | mentions |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["links"].items())]
    lines += ["", "## Fields", "", "| field | found | mean confidence |", "|---|---|---|"]
    lines += [f"| {k} | {v['count']} | {v['mean_confidence']:.3f} |" for k, v in sorted(s["fields"].items())]
    lines += ["", "## Seconds per stage (mean per page)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in s["stage_seconds"].items()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Markdown table cells cannot hold pipes or line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")
