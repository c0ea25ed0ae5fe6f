"""`symbiosis site` (issue 12, item 7) through the real CLI: coordinates out of range with a
hint at swapped lon/lat, a sector that is no GB/T 4754 code, the zone-only note, and never
"Allowed" after a distance that could not be computed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import CliRunner


def _words(text: str) -> str:
    return " ".join(text.split())


def test_swapped_coordinates_are_rejected_with_a_hint(run_cli: CliRunner,
                                                      demo_path: Path) -> None:
    proc = run_cli("site", "28.05", "113.05", "--zones", demo_path / "zones.geojson")
    assert proc.returncode == 1
    err = _words(proc.stderr)
    assert "(28.05, 113.05) is out of range" in err
    assert "are LON and LAT swapped?" in err and "symbiosis site 113.05 28.05" in err
    assert "Allowed" not in proc.stdout and "inf" not in proc.stdout
    assert "Traceback" not in proc.stderr and "RuntimeWarning" not in proc.stderr


@pytest.mark.parametrize("coords", [("nan", "29.46"), ("113.25", "inf"), ("200", "100")])
def test_non_finite_or_far_out_coordinates_never_allowed(run_cli: CliRunner, demo_path: Path,
                                                         coords: tuple[str, str]) -> None:
    proc = run_cli("site", *coords, "--zones", demo_path / "zones.geojson")
    assert proc.returncode == 1
    assert "Allowed" not in proc.stdout
    assert "LON LAT" in proc.stderr
    assert "swapped" not in proc.stderr


@pytest.mark.parametrize("sector", ["abc", "26123", "00", "Z26"])
def test_sector_must_be_a_gbt4754_code(run_cli: CliRunner, demo_path: Path,
                                       sector: str) -> None:
    proc = run_cli("site", "113.2517", "29.4638", "--sector", sector,
                   "--zones", demo_path / "zones.geojson")
    assert proc.returncode == 1
    assert f"--sector: '{sector}' is not a GB/T 4754-2017 code" in _words(proc.stderr)
    assert "Allowed" not in proc.stdout


def test_without_sector_only_the_zone_check_ran(run_cli: CliRunner, demo_path: Path) -> None:
    zones = demo_path / "zones.geojson"
    proc = run_cli("site", "113.2517", "29.4638", "--zones", zones)
    assert proc.returncode == 0, proc.stderr
    assert "No sector given: only the zone check ran" in _words(proc.stdout)
    body = json.loads(run_cli("site", "113.2517", "29.4638", "--zones", zones,
                              "--json").stdout)
    assert body["checks"] == "zones only" and body["allowed"] is True
    chem = json.loads(run_cli("site", "113.2517", "29.4638", "--zones", zones, "--sector",
                              "C2612", "--json").stdout)
    assert chem["checks"] == "zones and sector" and chem["allowed"] is False
