"""The ETL report: JSON beside the outputs, and the same figures as a table for people."""

from __future__ import annotations

import json
from dataclasses import asdict

from etl.pipeline import EtlReport

REPORT_NAME = "etl_report.json"


def to_json(report: EtlReport) -> str:
    body = asdict(report)
    for name, counts in report.sources.items():
        body["sources"][name]["balanced"] = counts.balanced
    return json.dumps(body, indent=2, sort_keys=False) + "\n"


def to_table(report: EtlReport) -> str:
    lines = [
        f"ETL snapshot {report.snapshot}: features as of {report.features_as_of}, {report.seconds:.1f}s",
        f"{'source':<14}{'read':>12}{'written':>12}{'quarantined':>13}{'superseded':>12}  balanced",
    ]
    for name, c in report.sources.items():
        lines.append(
            f"{name:<14}{c.read:>12,}{c.written:>12,}{c.quarantined:>13,}{c.superseded:>12,}  "
            f"{'yes' if c.balanced else 'NO'}"
        )
    lines.append(f"{'source':<14}{'reason':<22}{'rows':>10}")
    for name, c in report.sources.items():
        lines += [f"{name:<14}{reason:<22}{n:>10,}" for reason, n in c.reasons.items()]
    lines.append(
        f"customers without transactions: {report.customers_without_transactions:,}; "
        f"without social data: {report.customers_without_social:,}"
    )
    return "\n".join(lines)
