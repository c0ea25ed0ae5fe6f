"""GCJ-02 / BD-09 only inside China (issue 14, item 6): the outline test on capitals and
border towns, rows abroad warned and not shifted, and a converted-rows count that counts
only the rows that moved."""

from __future__ import annotations

import numpy as np
import pytest

from symbiosis.crs import gcj02_to_wgs84, in_china
from symbiosis.dataset import dataset_from_records

INSIDE = {
    "Beijing": (116.4, 39.9), "Changsha": (112.94, 28.23), "Harbin": (126.63, 45.75),
    "Urumqi": (87.6, 43.8), "Kunming": (102.7, 25.04), "Nanning": (108.32, 22.82),
    "Sanya": (109.5, 18.25), "Lhasa": (91.1, 29.65), "Hailar": (119.76, 49.21),
    "Erenhot": (111.98, 43.65), "Kashgar": (75.99, 39.47), "Dandong": (124.38, 40.13),
    "Hunchun": (130.36, 42.86), "Heihe": (127.49, 50.24), "Fuyuan": (134.3, 48.37),
    "Pingxiang": (106.75, 22.1), "Hekou": (103.94, 22.51), "Ruili": (97.85, 24.0),
    "Hong Kong": (114.17, 22.3), "Macau": (113.54, 22.19), "Taipei": (121.56, 25.03),
    "Altay": (88.13, 47.85), "Yadong": (88.9, 27.48), "Arxan": (119.94, 47.18),
}
OUTSIDE = {
    "Hanoi": (105.85, 21.03), "Haiphong": (106.68, 20.86), "Lang Son": (106.76, 21.85),
    "Ulaanbaatar": (106.9, 47.9), "Choibalsan": (114.5, 48.07), "Seoul": (126.98, 37.57),
    "Busan": (129.07, 35.18), "Pyongyang": (125.75, 39.02), "Chongjin": (129.78, 41.8),
    "Vladivostok": (131.9, 43.1), "Khabarovsk": (135.07, 48.48), "Chita": (113.5, 52.03),
    "Almaty": (76.9, 43.25), "Kathmandu": (85.3, 27.7), "Thimphu": (89.64, 27.47),
    "Myitkyina": (97.4, 25.38), "Luang Namtha": (101.4, 20.95), "Naha": (127.7, 26.2),
    "Gilgit": (74.3, 35.9), "Khovd": (91.64, 48.0),
}


@pytest.mark.parametrize(("places", "expected"), [(INSIDE, True), (OUTSIDE, False)])
def test_outline_separates_china_from_its_neighbours(places: dict[str, tuple[float, float]],
                                                     expected: bool) -> None:
    lon, lat = np.array(list(places.values())).T
    found = in_china(lon, lat)
    assert {n for n, f in zip(places, found, strict=True) if f != expected} == set()


def _dataset(rows: list[tuple[str, float, float, str]]):  # type: ignore[no-untyped-def]
    ents = [{"id": i, "name": i, "lon": x, "lat": y, "crs": crs} for i, x, y, crs in rows]
    return dataset_from_records({
        "enterprises": ents,
        "offers": [{"enterprise_id": rows[0][0], "material": "fly_ash", "quantity": 5000}],
        "needs": [{"enterprise_id": rows[-1][0], "material": "fly_ash", "quantity": 100}]})


def test_gcj02_rows_abroad_are_warned_and_not_shifted() -> None:
    """Hanoi, Ulaanbaatar and Seoul declared GCJ-02 lie inside the usual bounding box, where
    the public formula would shift them by hundreds of metres; they stay as given. Changsha
    is converted, and the count says 1."""
    data = _dataset([("CS", 112.94, 28.23, "gcj02"), ("HN", 105.85, 21.03, "gcj02"),
                     ("UB", 106.9, 47.9, "gcj02"), ("SE", 126.98, 37.57, "amap")])
    ent = data.enterprises
    for eid, (x, y) in {"HN": (105.85, 21.03), "UB": (106.9, 47.9),
                        "SE": (126.98, 37.57)}.items():
        assert (ent.loc[eid, "lon"], ent.loc[eid, "lat"]) == (x, y)
    lon, lat = gcj02_to_wgs84([112.94], [28.23])
    assert (ent.loc["CS", "lon"], ent.loc["CS", "lat"]) == (lon[0], lat[0])
    messages = [p.message for p in data.warnings if p.column == "crs"]
    assert messages == [
        "GCJ-02 (Amap/Tencent) applies only in China; rows 3, 4, 5 lie outside it and are "
        "kept as given (read as WGS 84)",
        "converted 1 enterprise(s) from GCJ-02 (Amap/Tencent) to WGS 84",
    ]


def test_no_conversion_message_when_nothing_moved() -> None:
    data = _dataset([("UB", 106.9, 47.9, "bd09"), ("SE", 126.98, 37.57, "baidu")])
    messages = [p.message for p in data.warnings if p.column == "crs"]
    assert messages == ["BD-09 (Baidu) applies only in China; rows 2, 3 lie outside it and "
                        "are kept as given (read as WGS 84)"]
