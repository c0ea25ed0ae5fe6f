"""The files a match writes stay byte-identical while the hot path is made faster
(issue 17 item 2): exchanges.csv, offers.csv, needs.csv, enterprises.csv and summary.json
of the bundled Hunan demo under the three objectives, against sha256 digests computed
before the change (tests/data/lean_golden/hunan.json says from which commit)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from symbiosis.dataset import load_dataset
from symbiosis.matching.model import solve_match
from symbiosis.matching.options import MatchOptions
from symbiosis.matching.result import write_outputs

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "lean_golden" / "hunan.json"
OBJECTIVES = ("utilization", "cost", "co2")
VOLATILE = ("timings_s", "seconds")  # wall-clock figures, different on every run


def _stable(value: Any, top: bool = True) -> Any:
    """The summary without its wall-clock figures, and without the folder the dataset was
    read from (`dataset`: an absolute path, another one in every checkout)."""
    if isinstance(value, dict):
        return {k: _stable(v, False) for k, v in value.items()
                if k not in VOLATILE and not (top and k == "dataset")}
    if isinstance(value, list):
        return [_stable(v, False) for v in value]
    return value


def digests(objective: str, folder: Path) -> dict[str, str]:
    """sha256 of every file `write_outputs` writes for data/hunan under `objective`."""
    result = solve_match(load_dataset(ROOT / "data" / "hunan"), MatchOptions(objective=objective))
    out: dict[str, str] = {}
    for path in write_outputs(result, folder):
        data = path.read_bytes()
        if path.name == "summary.json":
            data = json.dumps(_stable(json.loads(data)), sort_keys=True).encode()
        out[f"{objective}/{path.name}"] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_written_files_are_byte_identical_to_the_golden_digests(objective: str,
                                                               tmp_path: Path) -> None:
    """Every file written, and no other, has the digest recorded before the change."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))["digests"]
    expected = {k: v for k, v in golden.items() if k.startswith(f"{objective}/")}
    assert digests(objective, tmp_path) == expected


if __name__ == "__main__":  # rewrite the digests (a deliberate change of the outputs)
    import tempfile

    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        doc["digests"] = {k: v for o in OBJECTIVES for k, v in digests(o, Path(tmp)).items()}
    GOLDEN.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {GOLDEN}\n")
