"""The geography part of the command line: `match` options (`--roads`, `--parks`,
`--zones`, `--geo`) and the `site` and `map` commands. Heavy modules are imported inside functions.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset
    from symbiosis.geo.context import GeoContext
    from symbiosis.matching.result import MatchResult

__all__ = ["GeoOpt", "GeoRequest", "ParksOpt", "RoadsOpt", "ZonesOpt", "register"]

RoadsOpt = Annotated[Path | None, typer.Option(
    "--roads", help="Road network (GeoPackage/GeoJSON line layer, .osm or .osm.pbf): "
                    "distances follow roads instead of great-circle x circuity.")]
ParksOpt = Annotated[Path | None, typer.Option(
    "--parks", help="Park polygons (GeoJSON/GeoPackage with `name`): enterprises with an "
                    "empty park cell are assigned by location; park KPIs in summary.json.")]
ZonesOpt = Annotated[Path | None, typer.Option(
    "--zones", help="Restricted zones (GeoJSON/GeoPackage with `kind`, `name`, `source`): "
                    "hazardous loads avoid drinking-water zones; chemical plants within 1 km "
                    "of the Yangtze shoreline are flagged.")]
GeoOpt = Annotated[bool, typer.Option(
    "--geo", help="Use roads.*, parks.* and zones.* found beside the dataset, and write "
                  "exchanges.geojson, enterprises.geojson, symbiosis.gpkg, map.png and "
                  "map.html.")]


@dataclass(frozen=True)
class GeoRequest:
    """What the user asked of the geography on the command line."""

    roads: Path | None = None
    parks: Path | None = None
    zones: Path | None = None
    export: bool = False

    @property
    def active(self) -> bool:
        """True when any geography option was given."""
        return self.export or any(p is not None for p in (self.roads, self.parks, self.zones))


def prepare(dataset_path: Path, dataset: Dataset, request: GeoRequest,
            timings: dict[str, float]) -> GeoContext:
    """Load the requested road network, parks and zones (the folder's own with --geo)."""
    from symbiosis.geo.context import GeoFiles, find_geo_files, prepare_geo

    files = GeoFiles(request.roads, request.parks, request.zones)
    if request.export:
        files = files.merged(find_geo_files(dataset_path))
    ctx = prepare_geo(dataset, files)
    timings.update(ctx.timings)
    return ctx


def with_geography(ctx: GeoContext, result: MatchResult) -> MatchResult:
    """The result with the roads / parks / zones sections in its summary (a new result:
    results are immutable)."""
    changes = ctx.summary(result.exchanges)
    if ctx.router is not None:
        parameters = result.summary.parameters.model_copy(update={"distance": (
            "distances.csv where listed, else road network shortest path "
            f"({ctx.router.network.source}); pairs with no road connection: haversine "
            f"x {result.summary.parameters.circuity:g}")})
        changes["parameters"] = parameters
    return result.with_summary(**changes)


def export(ctx: GeoContext, result: MatchResult, out: Path) -> list[Path]:
    """Write the spatial layers and maps of the run into `out`."""
    from symbiosis.geo.export import write_geo

    return write_geo(out, ctx.dataset, result.exchanges, router=ctx.router, parks=ctx.parks,
                     zones=ctx.zones, distances=ctx.distances,
                     title=f"symbiosis — {Path(result.summary.dataset).name}")


def report(result: MatchResult, written: list[Path], console: Any) -> None:
    """A few lines on what the geography changed."""
    s = result.summary
    if s.roads is not None:
        r = s.roads
        console.print(f"Roads: {r.segments:,} segments, {r.total_km:,.0f} km ({r.crs}); "
                      f"exchanges by distance source: {r.exchanges_by_distance_source}")
    if s.parks is not None:
        p = s.parks
        share = p.within_park_share_of_mass
        console.print(f"Parks: {len(p.parks)} parks, {p.enterprises_in_parks} enterprises "
                      f"in parks ({p.assigned_by_polygon} assigned by polygon); "
                      f"{p.exchanges['within_park'].exchanges} exchanges within a park"
                      + ("" if share is None else f", {100 * share:.1f} % of tonnes matched"))
    if s.zones is not None:
        z = s.zones
        for f in z.chemical_within_1km_of_shoreline:
            console.print(f"Shoreline: {f['enterprise_id']} (sector {f['sector']}) is "
                          f"{f['distance_m']:,.0f} m from {f['zone']}: {f['rule']}",
                          style="yellow")
        for e in [*z.excluded_pairs, *z.rerouted_pairs]:
            extra = "" if e["rerouted_km"] is None else \
                f" ({e['distance_km']:.1f} -> {e['rerouted_km']:.1f} km)"
            console.print(f"Zone rule: {e['material']} {e['offer_enterprise_id']} -> "
                          f"{e['need_enterprise_id']} {e['action']}{extra}: {e['reason']}",
                          style="yellow")
    if written:
        console.print("Geo outputs: " + ", ".join(p.name for p in written))


def site(
    lon: Annotated[float, typer.Argument(help="Longitude of the site.")],
    lat: Annotated[float, typer.Argument(help="Latitude of the site.")],
    zones: Annotated[Path, typer.Option("--zones", help="Zones file (GeoJSON/GeoPackage).")],
    sector: Annotated[str, typer.Option(
        "--sector", help="GB/T 4754-2017 sector code of the new tenant, e.g. 2612.")] = "",
    crs: Annotated[str, typer.Option(
        "--crs", help="Coordinate system of LON LAT: wgs84, gcj02, bd09 or EPSG:<code>.")
    ] = "wgs84",
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")
                       ] = False,
) -> None:
    """Siting check for a new tenant: the Yangtze 1 km shoreline rule for chemical
    projects and drinking-water protection zones. Exit 1 when the site is not allowed.

    Example: [bold]symbiosis site 113.25 29.46 --sector 2612 --zones data/hunan/zones.geojson
    [/bold]
    """
    from rich.console import Console

    from symbiosis import crs as c
    from symbiosis.errors import InvalidDataError, Problem
    from symbiosis.geo.zones import check_site, load_zones
    from symbiosis.i18n import t

    name = c.normalize_crs(crs)
    if name is None:
        raise InvalidDataError([Problem("--crs", None, None, f"unknown coordinate system "
                                        f"'{crs}': use wgs84, gcj02, bd09 or EPSG:<code>")])
    sector = sector.strip()
    problems = _site_problems(lon, lat, sector, geographic=not name.startswith("EPSG:"))
    if problems:
        raise InvalidDataError(problems)
    x, y = c.to_wgs84([lon], [lat], name)
    if problems := _site_problems(float(x[0]), float(y[0]), sector, geographic=True):
        raise InvalidDataError([Problem("LON LAT", None, None,
                                        f"({lon:g}, {lat:g}) in {name} is not a valid point: "
                                        + p.message) for p in problems])
    findings = check_site(float(x[0]), float(y[0]), sector, load_zones(zones))
    bad = [f for f in findings if not math.isfinite(float(f.get("distance_m", math.nan)))]
    if bad:
        raise InvalidDataError([Problem("LON LAT", None, None,
                                        f"the distance to {f['zone']} could not be computed "
                                        f"({f.get('distance_m')}): the site cannot be judged "
                                        "allowed") for f in bad])
    allowed = all(f["allowed"] for f in findings)
    checks = "zones and sector" if sector else "zones only"
    if as_json:
        sys.stdout.write(json.dumps({"lon": float(x[0]), "lat": float(y[0]), "sector": sector,
                                     "checks": checks, "allowed": allowed,
                                     "findings": findings},
                                    ensure_ascii=False) + "\n")
    else:
        console = Console(highlight=False, emoji=False)
        console.print(f"Site ({x[0]:.6f}, {y[0]:.6f}) WGS 84, sector {sector or '-'}")
        if not sector:
            console.print(t("fig.site_zone_only"), style="yellow")
        if not findings:
            console.print("No shoreline or drinking-water zone in the zones file.")
        for f in findings:
            mark = "OK " if f["allowed"] else "NO "
            console.print(f"{mark} {f['message']}  [{f['rule']}]", markup=False,
                          style="green" if f["allowed"] else "red")
        console.print("Allowed" if allowed else "Not allowed", style="bold")
    if not allowed:
        raise typer.Exit(1)


# GB/T 4754-2017: a section letter (A-T) and/or a 2-digit division, 3-digit group or
# 4-digit class; divisions run 01-97
_GBT4754 = re.compile(r"^(?:[A-T]|[A-T]?(?:0[1-9]|[1-9]\d)\d{0,2})$")


def _site_problems(lon: float, lat: float, sector: str, geographic: bool) -> list[Any]:
    """Coordinates out of range (with a hint when LON and LAT look swapped) and a sector
    that is not a GB/T 4754-2017 code, as Problems naming the argument."""
    from symbiosis.errors import Problem

    problems: list[Problem] = []
    if not (math.isfinite(lon) and math.isfinite(lat)):
        problems.append(Problem("LON LAT", None, None,
                                f"({lon}, {lat}) is not a finite coordinate pair"))
    elif geographic and not (abs(lon) <= 180 and abs(lat) <= 90):
        swapped = abs(lat) <= 180 and abs(lon) <= 90
        hint = (f"; are LON and LAT swapped? The command takes LON first: "
                f"symbiosis site {lat:g} {lon:g} ..." if swapped else "")
        problems.append(Problem("LON LAT", None, None,
                                f"({lon:g}, {lat:g}) is out of range: longitude must be in "
                                f"[-180, 180] and latitude in [-90, 90]{hint}"))
    if sector and not _GBT4754.match(sector):
        problems.append(Problem("--sector", None, None,
                                f"'{sector}' is not a GB/T 4754-2017 code (a section letter "
                                "A-T, or a 2-, 3- or 4-digit code such as 26, 261 or 2612)"))
    return problems


def register(app: typer.Typer) -> None:
    """Add the geography commands to the `symbiosis` app."""
    app.command()(site)
