"""Delivery reports: what the ledger says about one release, as numbers and as SVG charts."""

from __future__ import annotations

from warta.reports.aggregate import release_report
from warta.reports.charts import bar_chart, report_chart, stacked_bars, timeline

__all__ = ["bar_chart", "release_report", "report_chart", "stacked_bars", "timeline"]
