"""Writes the ILLUSTRATIVE geography of the Hunan demo: data/hunan/roads.gpkg,
parks.geojson and zones.geojson. Deterministic; run from the repository root:

    python data/tools/make_hunan_geo.py

Roads: expressway-like corridors between real town centres (GeoNames WGS 84 points from
shared/reference/geo, see data/README.md) following the real corridors only roughly
(G4 Yueyang-Changsha-Xiangtan-Hengyang-Leiyang-Chenzhou, G60 Liling-Zhuzhou-Xiangtan-
Xiangxiang-Loudi-Lianyuan-Lengshuijiang, Changsha-Changde, Chenzhou-Zixing, Yueyang-Yunxi),
densified every ~2 km with a smooth deterministic wiggle, plus one local access road per
enterprise from the nearest corridor vertex to within ~100 m of the plant. Parks: a
rounded hull around each park's enterprises (1.2-2 km margin), plus two parks that are not
named in enterprises.csv (to exercise point-in-polygon assignment). Zones: two shoreline
lines (a Yangtze reach near Yueyang/Yunxi and a Xiang River reach at Zhuzhou) and one
drinking-water protection polygon. None of these outlines is surveyed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, MultiPoint, Polygon

ROOT = Path(__file__).resolve().parents[1] / "hunan"
CRS_M = "EPSG:4546"  # CGCS2000 / 3-degree GK CM 111E... Hunan spans 111-114E; 4547 = 114E
TOWNS = {  # GeoNames WGS 84 (lon, lat); cpca where GeoNames has none (see data/README.md)
    "Changsha": (112.97087, 28.19874), "Zhuzhou": (113.15, 27.83333),
    "Xiangtan": (112.9, 27.85), "Xiangxiang": (112.53333, 27.73333),
    "Loudi": (111.99444, 27.73444), "Lianyuan": (111.66433, 27.68833),
    "Lengshuijiang": (111.42944, 27.68806), "Hengyang": (112.61888, 26.88946),
    "Leiyang": (112.85908, 26.40238), "Yongxing": (113.116527, 26.12715),
    "Chenzhou": (113.03333, 25.8), "Zixing": (113.236146, 25.976243),
    "Yueyang": (113.09481, 29.37455), "Yunxi": (113.272312, 29.472745),
    "Changde": (111.69844, 29.03205), "Liling": (113.5, 27.66667),
    "Yuetang": (112.969479, 27.872028),
}
CORRIDORS = [
    ["Yunxi", "Yueyang", "Changsha", "Xiangtan", "Hengyang", "Leiyang", "Yongxing", "Chenzhou"],
    ["Liling", "Zhuzhou", "Yuetang", "Xiangtan", "Xiangxiang", "Loudi", "Lianyuan",
     "Lengshuijiang"],
    ["Changsha", "Changde"], ["Chenzhou", "Zixing"], ["Changsha", "Zhuzhou"],
]


def wiggle_line(a: np.ndarray, b: np.ndarray, seed: int, step_m: float = 2000.0) -> np.ndarray:
    n = max(2, int(np.hypot(*(b - a)) // step_m) + 1)
    t = np.linspace(0, 1, n)
    pts = a + np.outer(t, b - a)
    normal = np.array([-(b - a)[1], (b - a)[0]]) / max(np.hypot(*(b - a)), 1.0)
    rng = np.random.default_rng(seed)
    amp = 0.03 * np.hypot(*(b - a))
    phase = rng.uniform(0, 2 * np.pi, 2)
    off = amp * np.sin(np.pi * t) * (0.6 * np.sin(3 * np.pi * t + phase[0])
                                     + 0.4 * np.sin(7 * np.pi * t + phase[1]))
    return pts + np.outer(off, normal)


def main() -> None:
    ent = pd.read_csv(ROOT / "enterprises.csv", dtype={"sector": str}, keep_default_na=False)
    e_pts = gpd.GeoSeries(gpd.points_from_xy(ent["lon"], ent["lat"]), crs="EPSG:4326").to_crs(CRS_M)
    towns = gpd.GeoSeries(gpd.points_from_xy(*zip(*TOWNS.values(), strict=True)),
                          index=list(TOWNS), crs="EPSG:4326").to_crs(CRS_M)
    txy = {k: np.array([p.x, p.y]) for k, p in towns.items()}
    lines, kinds = [], []
    seed = 0
    for corridor in CORRIDORS:
        for a, b in zip(corridor[:-1], corridor[1:], strict=True):
            seed += 1
            lines.append(LineString(wiggle_line(txy[a], txy[b], seed)))
            kinds.append("expressway (illustrative)")
    vertices = np.concatenate([np.asarray(line.coords) for line in lines])
    for k, p in enumerate(e_pts):
        target = np.array([p.x, p.y])
        start = vertices[np.argmin(np.hypot(*(vertices - target).T))]
        # stop 60-140 m short of the plant gate, so the snap leg is small but not zero
        d = np.hypot(*(target - start))
        stop = target + (start - target) * min(1.0, (60 + (k * 37) % 80) / max(d, 1.0))
        lines.append(LineString(wiggle_line(start, stop, 1000 + k, step_m=700.0)))
        kinds.append("local road (illustrative)")
    roads = gpd.GeoDataFrame({"kind": kinds}, geometry=lines, crs=CRS_M).to_crs("EPSG:4326")
    out = ROOT / "roads.gpkg"
    out.unlink(missing_ok=True)
    roads.to_file(out, layer="roads", driver="GPKG")

    parks, names = [], []
    e_m = gpd.GeoDataFrame(ent, geometry=e_pts.values, crs=CRS_M)
    for name, group in e_m[e_m["park"] != ""].groupby("park", sort=True):
        margin = 1200 + 400 * (len(name) % 3)
        parks.append(MultiPoint(list(group.geometry)).convex_hull.buffer(margin, quad_segs=4))
        names.append(name)
    extra = {  # parks not named in enterprises.csv: their tenants are assigned by location
        "Changsha Economic and Technological Development Zone (illustrative)": "CS-BRK1",
        "Liling ceramics industrial park (illustrative)": "LL-BRK1",
    }
    for name, eid in extra.items():
        p = e_m.loc[e_m["id"] == eid].geometry.iloc[0]
        parks.append(p.buffer(2500, quad_segs=3))
        names.append(name)
    gpd.GeoDataFrame({"name": names, "source": "illustrative outline, not surveyed"},
                     geometry=parks, crs=CRS_M).to_crs("EPSG:4326").to_file(
        ROOT / "parks.geojson", driver="GeoJSON")

    zones = gpd.GeoDataFrame({
        "kind": ["yangtze_shoreline", "yangtze_shoreline", "drinking_water_protection"],
        "name": ["Yangtze main stream near Yueyang-Yunxi (illustrative line)",
                 "Xiang River (湘江, Yangtze tributary) at Zhuzhou (illustrative line)",
                 "Xiang River water-source protection zone upstream of Changsha (illustrative)"],
        "source": ["illustrative line; rule: Yangtze River Protection Law (2021) art. 26",
                   "illustrative line; rule: Yangtze River Protection Law (2021) art. 26 "
                   "(main stream and tributaries)",
                   "illustrative polygon; the real zones are published by the provincial "
                   "government (饮用水水源保护区划)"],
    }, geometry=[
        LineString([(113.08, 29.43), (113.20, 29.468), (113.26, 29.4695), (113.36, 29.55),
                    (113.48, 29.60)]),
        LineString([(112.85, 27.80), (112.93, 27.86), (113.00, 27.877), (113.08, 27.85),
                    (113.13, 27.835), (113.16, 27.882), (113.10, 28.0), (112.97, 28.2)]),
        Polygon([(113.02, 28.02), (113.09, 28.02), (113.09, 28.10), (113.02, 28.10)]),
    ], crs="EPSG:4326")
    zones.to_file(ROOT / "zones.geojson", driver="GeoJSON")
    print(f"roads: {len(roads)} lines; parks: {len(names)}; zones: {len(zones)}")


if __name__ == "__main__":
    main()
