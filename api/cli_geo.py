"""The geography part of the command line: `match` options (`--roads`, `--parks`,
`--zones`, `--geo`) and the `site` and `map` commands. Heavy modules are imported inside functions.
"""

from __future__ import annotations

import json
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

    name = c.normalize_crs(crs)
    if name is None:
        raise InvalidDataError([Problem("--crs", None, None, f"unknown coordinate system "
                                        f"'{crs}': use wgs84, gcj02, bd09 or EPSG:<code>")])
    x, y = c.to_wgs84([lon], [lat], name)
    findings = check_site(float(x[0]), float(y[0]), sector, load_zones(zones))
    allowed = all(f["allowed"] for f in findings)
    if as_json:
        sys.stdout.write(json.dumps({"lon": float(x[0]), "lat": float(y[0]), "sector": sector,
                                     "allowed": allowed, "findings": findings},
                                    ensure_ascii=False) + "\n")
    else:
        console = Console(highlight=False)
        console.print(f"Site ({x[0]:.6f}, {y[0]:.6f}) WGS 84, sector {sector or '-'}")
        if not findings:
            console.print("No shoreline or drinking-water zone in the zones file.")
        for f in findings:
            mark = "OK " if f["allowed"] else "NO "
            console.print(f"{mark} {f['message']}  [{f['rule']}]", markup=False,
                          style="green" if f["allowed"] else "red")
        console.print("Allowed" if allowed else "Not allowed", style="bold")
    if not allowed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the geography commands to the `symbiosis` app."""
    app.command()(site)
