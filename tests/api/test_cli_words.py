"""The CLI's match summary speaks the reader's language (`--lang`), with the report's labels
for the figures they share (one message catalogue)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from symbiosis.api.cli_common import fmt, pct
from symbiosis.i18n import t

if TYPE_CHECKING:
    from conftest import CliRunner


def test_demo_summary_in_chinese_uses_the_report_labels(run_cli: CliRunner,
                                                        tmp_path: Path) -> None:
    proc = run_cli("demo", "--out", tmp_path / "out", "--lang", "zh")
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout
    for key in ("cli.match_summary", "fig.listed_rate", "kpi.tonne_km", "kpi.saving_cny",
                "report.largest_exchanges", "cli.largest_unmatched", "report.col_reason"):
        assert t(key, "zh") in shown, key
    assert "大宗工业固废" in shown and "运输周转量" in shown
    # the demo states no baseline: the listed share is said not to be the official rate
    assert "吨/年" in shown and "并非官方综合利用率" in shown and "达到目标" not in shown
    for english in ("Match summary", "Transport work", "Largest exchanges", "t/yr",
                    "no target claimed"):
        assert english not in shown, english


def test_missing_figures_show_a_dash_not_nan(run_cli: CliRunner, tmp_path: Path,
                                             dataset_tables: Any) -> None:
    """A dataset without costs has no saving per exchange: the table says '-', not 'nan'."""
    folder = dataset_tables.write_csv(tmp_path / "data")
    proc = run_cli("match", folder, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "Largest exchanges" in proc.stdout
    assert "nan" not in proc.stdout.lower()
    assert fmt(float("nan")) == pct(float("nan")) == fmt(None) == "-"
