"""Spatial exports of a match: GeoJSON and GeoPackage layers QGIS opens, a PNG map and an
offline interactive HTML map.

Layers (all WGS 84, EPSG:4326): `enterprises` (points: id, name, sector, park, role,
offered/received per unit), `exchanges` (LineStrings along the road route when a road
network was used, else straight; material, quantity, unit, distance_km, `colour` hex and
`width` for styling: in QGIS set the line colour and width to data-defined `colour` /
`width`), `parks` (polygons) and `zones` (polygons/lines). The HTML map embeds plotly.js
from the installed plotly package (`include_plotlyjs=True`) on a blank background: it
fetches nothing (no tiles, no CDN).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.geo.provider import GeoDistances
from symbiosis.geo.roads import RoadNetwork, RoadRouter

__all__ = ["enterprise_points", "exchange_lines", "map_figure", "material_colour", "write_geo"]

# fixed colours for the built-in by-products (a palette readable on white)
_COLOURS = {
    "fly_ash": "#6b6b6b", "bottom_ash": "#8c564b", "bf_slag": "#1f77b4",
    "steel_slag": "#17becf", "fgd_gypsum": "#e377c2", "phosphogypsum": "#bcbd22",
    "red_mud": "#d62728", "coal_gangue": "#2f2f2f", "tailings": "#9467bd",
    "smelting_slag": "#ff7f0e", "waste_heat": "#ff0000", "reclaimed_water": "#2ca02c",
}
_SPARE = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
          "#31a354", "#756bb1", "#636363"]
_MAX_MAP_SEGMENTS = 60_000  # road segments drawn on the maps (the rest is thinned out)


def material_colour(slug: str) -> str:
    """A stable hex colour per material (fixed for built-ins, hashed for others)."""
    return _COLOURS.get(slug) or _SPARE[zlib.crc32(slug.encode()) % len(_SPARE)]


def exchange_lines(dataset: Dataset, exchanges: pd.DataFrame,
                   router: RoadRouter | None = None,
                   distances: GeoDistances | None = None) -> Any:
    """Exchanges as a GeoDataFrame of LineStrings: road routes where `router` finds one
    (for exchanges whose distance came from the road network), else straight lines. With
    `distances` (the run's GeoDistances) each material takes the router the match used, so
    a hazardous load's route avoids the zones it was rerouted around."""
    import geopandas as gpd
    from shapely.geometry import LineString

    ent = dataset.enterprises
    pos = pd.Series(np.arange(len(ent)), index=ent.index)
    src = pos.reindex(exchanges["offer_enterprise_id"]).to_numpy(np.int64)
    dst = pos.reindex(exchanges["need_enterprise_id"]).to_numpy(np.int64)
    lon, lat = ent["lon"].to_numpy(float), ent["lat"].to_numpy(float)
    routes: list[Any] = [None] * len(exchanges)
    on_road = (exchanges["distance_source"] == "road_network").to_numpy()
    material = exchanges["offer_material"].astype(str).to_numpy()
    for mat in sorted(set(material[on_road].tolist())):
        use = distances.router_for(mat) if distances is not None else router
        if use is None:
            continue
        idx = np.flatnonzero(on_road & (material == mat))
        km = exchanges["distance_km"].to_numpy(float)[idx]
        for k, r in zip(idx.tolist(), use.routes(src[idx], dst[idx], km), strict=True):
            routes[k] = r
    geoms = []
    kind = []
    for i in range(len(exchanges)):
        route = routes[i]
        if route is not None and len(route) >= 2:
            geoms.append(LineString(route))
            kind.append("road")
        else:
            geoms.append(LineString([(lon[src[i]], lat[src[i]]), (lon[dst[i]], lat[dst[i]])]))
            kind.append("straight")
    q = exchanges["quantity"].to_numpy(float)
    unit = exchanges["unit"].astype(str).to_numpy()
    width = np.ones(len(q))
    for u in set(unit.tolist()):
        sel = unit == u
        top = q[sel].max() if sel.any() else 0.0
        if top > 0:
            width[sel] = 0.8 + 5.2 * np.sqrt(q[sel] / top)
    frame = pd.DataFrame({
        "offer_enterprise_id": exchanges["offer_enterprise_id"].astype(str).to_numpy(),
        "need_enterprise_id": exchanges["need_enterprise_id"].astype(str).to_numpy(),
        "material": exchanges["offer_material"].astype(str).to_numpy(),
        "need_material": exchanges["need_material"].astype(str).to_numpy(),
        "quantity": q,
        "unit": unit,
        "distance_km": exchanges["distance_km"].to_numpy(float),
        "distance_source": exchanges["distance_source"].astype(str).to_numpy(),
        "route": kind,
        "colour": [material_colour(m) for m in exchanges["offer_material"].astype(str)],
        "width": np.round(width, 2),
    })
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")


def enterprise_points(dataset: Dataset, exchanges: pd.DataFrame) -> Any:
    """Enterprises as points with their role in the plan and what they send and receive."""
    import geopandas as gpd

    ent = dataset.enterprises
    sent = exchanges.groupby("offer_enterprise_id")["quantity"].size()
    got = exchanges.groupby("need_enterprise_id")["quantity"].size()
    ids = ent.index.astype(str)
    n_sent = sent.reindex(ids).fillna(0).astype(int).to_numpy()
    n_got = got.reindex(ids).fillna(0).astype(int).to_numpy()
    role = np.where((n_sent > 0) & (n_got > 0), "supplier and user",
                    np.where(n_sent > 0, "supplier", np.where(n_got > 0, "user", "unmatched")))
    colour = {"supplier": "#d62728", "user": "#1f77b4", "supplier and user": "#9467bd",
              "unmatched": "#aaaaaa"}
    frame = pd.DataFrame({
        "id": ids.to_numpy(), "name": ent["name"].astype(str).to_numpy(),
        "sector": ent["sector"].astype(str).to_numpy(),
        "park": ent["park"].astype(str).to_numpy(),
        "exchanges_out": n_sent, "exchanges_in": n_got, "role": role,
        "colour": [colour[r] for r in role],
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(ent["lon"], ent["lat"]),
                            crs="EPSG:4326")


def _road_segments(roads: RoadNetwork | None) -> np.ndarray | None:
    """(k, 2, 2) lon/lat segments of the road network, thinned to at most
    `_MAX_MAP_SEGMENTS` for drawing."""
    if roads is None:
        return None
    lon, lat = roads.lonlat()
    step = max(1, math.ceil(roads.n_edges / _MAX_MAP_SEGMENTS))
    u, v = roads.u[::step], roads.v[::step]
    return np.stack([np.column_stack([lon[u], lat[u]]), np.column_stack([lon[v], lat[v]])],
                    axis=1)


def write_geo(out_dir: str | Path, dataset: Dataset, exchanges: pd.DataFrame,
              router: RoadRouter | None = None, parks: Any = None, zones: Any = None,
              title: str = "symbiosis", distances: GeoDistances | None = None) -> list[Path]:
    """Write exchanges.geojson, enterprises.geojson, parks.geojson (with parks),
    symbiosis.gpkg (every layer), map.png and map.html into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = exchange_lines(dataset, exchanges, router, distances)
    points = enterprise_points(dataset, exchanges)
    layers: dict[str, Any] = {"enterprises": points, "exchanges": lines}
    if parks is not None:
        layers["parks"] = parks
    if zones is not None:
        layers["zones"] = zones.frame
    written: list[Path] = []
    for name in ("exchanges", "enterprises", "parks"):
        if name in layers:
            path = out / f"{name}.geojson"
            path.unlink(missing_ok=True)
            layers[name].to_file(path, driver="GeoJSON")
            written.append(path)
    gpkg = out / "symbiosis.gpkg"
    gpkg.unlink(missing_ok=True)
    for name, frame in layers.items():
        frame.to_file(gpkg, layer=name, driver="GPKG")
    written.append(gpkg)
    roads = router.network if router is not None else None
    segments = _road_segments(roads)
    written.append(_write_png(out / "map.png", layers, segments, title))
    written.append(_write_html(out / "map.html", layers, segments, title))
    return written


def _aspect(points: Any) -> float:
    lat = float(np.nanmean(points.geometry.y)) if len(points) else 0.0
    return 1.0 / max(math.cos(math.radians(lat)), 0.1)


# enterprise roles as map.png draws them (colour as enterprise_points gives, a shape each)
_ROLE_MARKERS = {"supplier": "^", "user": "s", "supplier and user": "D", "unmatched": "o"}


def _extent(layers: dict[str, Any]) -> tuple[float, float, float, float]:
    """The map's lon/lat box: every enterprise and exchange, grown by 8 % (at least 0.05°)."""
    boxes = [layers["enterprises"].total_bounds]
    if len(layers["exchanges"]):
        boxes.append(layers["exchanges"].total_bounds)
    b = np.array(boxes, dtype=float)
    x0, y0, x1, y1 = np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), \
        np.nanmax(b[:, 3])
    if not np.isfinite([x0, y0, x1, y1]).all():
        return (108.0, 24.0, 115.0, 31.0)  # nothing to place: Hunan
    pad = max(0.08 * max(x1 - x0, y1 - y0), 0.05)
    return (float(x0 - pad), float(y0 - pad), float(x1 + pad), float(y1 + pad))


def map_figure(layers: dict[str, Any], segments: np.ndarray | None, title: str) -> Any:
    """map.png's figure: provincial boundaries and prefecture seats (`geo.basemap`) under
    roads, parks, zones, exchange lines and enterprises; a legend beside the map naming
    every symbol drawn (materials, enterprise roles, parks, zones, boundaries, seats);
    labels placed without overlap (`geo.labels`). Lon/lat axes, WGS 84, no offset."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from symbiosis.geo.basemap import basemap_within
    from symbiosis.geo.labels import place_labels

    fig = Figure(figsize=(12.5, 10), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x0, y0, x1, y1 = _extent(layers)
    pts = layers["enterprises"]
    handles: list[Any] = []
    base = basemap_within((x0, y0, x1, y1), margin_deg=0.0)
    boundary = base.plot_boundaries(ax, "#8c8c8c", 0.9)
    if boundary is not None:
        handles.append(boundary)
    seats = [p for p in base.places if p.kind == "seat"]
    if seats:
        ax.scatter([p.lon for p in seats], [p.lat for p in seats], s=14, marker="s",
                   facecolor="white", edgecolor="#555555", linewidths=0.8, zorder=1)
        handles.append(Line2D([0], [0], marker="s", linestyle="", markerfacecolor="white",
                              markeredgecolor="#555555", label="prefecture seat"))
    if segments is not None and len(segments):
        ax.add_collection(LineCollection(list(segments), colors="#d9d9d9", linewidths=0.4,
                                         zorder=1))
        handles.append(Line2D([0], [0], color="#d9d9d9", linewidth=1.5, label="road"))
    if "parks" in layers and len(layers["parks"]):
        layers["parks"].plot(ax=ax, facecolor="#fff2cc", edgecolor="#b59b3a", linewidth=0.8,
                             zorder=2)
        handles.append(Patch(facecolor="#fff2cc", edgecolor="#b59b3a", label="park"))
    if "zones" in layers and len(layers["zones"]):
        z = layers["zones"]
        water = z[z["kind"] == "drinking_water_protection"]
        shore = z[z["kind"] == "yangtze_shoreline"]
        if len(water):
            water.plot(ax=ax, facecolor="#cfe8ff", edgecolor="#3a7bd5", hatch="//",
                       linewidth=0.8, zorder=2)
            handles.append(Patch(facecolor="#cfe8ff", edgecolor="#3a7bd5", hatch="//",
                                 label="drinking-water protection zone"))
        if len(shore):
            shore.plot(ax=ax, color="#3a7bd5", linewidth=1.6, linestyle="--", zorder=2)
            handles.append(Line2D([0], [0], color="#3a7bd5", linewidth=1.6, linestyle="--",
                                  label="Yangtze shoreline (1 km rule)"))
    for material, group in layers["exchanges"].groupby("material", sort=True):
        colour = material_colour(str(material))
        group.plot(ax=ax, color=colour, linewidth=group["width"].to_numpy(float), alpha=0.8,
                   zorder=3)
        handles.append(Line2D([0], [0], color=colour, linewidth=3,
                              label=f"exchange: {material}"))
    for role, marker in _ROLE_MARKERS.items():
        sel = pts[pts["role"] == role]
        if not len(sel):
            continue
        colour = str(sel["colour"].iloc[0])
        ax.scatter(sel.geometry.x, sel.geometry.y, s=26, marker=marker, c=colour,
                   edgecolors="black", linewidths=0.4, zorder=4)
        handles.append(Line2D([0], [0], marker=marker, linestyle="", markerfacecolor=colour,
                              markeredgecolor="black", label=f"enterprise: {role}"))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(_aspect(pts))
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("longitude (°E, WGS 84)")
    ax.set_ylabel("latitude (°N, WGS 84)")
    ax.set_title(title)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                       fontsize=8, title="legend", frameon=True, borderaxespad=0.0)
    fig.tight_layout()
    # labels last, on the final layout: seats, then provinces, then parks
    labels = [(p.lon, p.lat, p.name_en) for p in seats]
    labels += [(p.lon, p.lat, p.name_en.upper()) for p in base.places if p.kind == "province"]
    if "parks" in layers and len(layers["parks"]):
        centres = layers["parks"].geometry.representative_point()
        labels += [(float(c.x), float(c.y), str(n))
                   for c, n in zip(centres, layers["parks"]["name"], strict=True)]
    place_labels(ax, labels, fontsize=8, color="#333333", zorder=5)
    return fig


def _write_png(path: Path, layers: dict[str, Any], segments: np.ndarray | None,
               title: str) -> Path:
    fig = map_figure(layers, segments, title)
    fig.savefig(path)
    return path


def _polyline_xy(geoms: Any) -> tuple[list[float | None], list[float | None]]:
    """Coordinates of many (multi)lines/polygon rings as one trace, None between parts."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for g in geoms:
        parts = getattr(g, "geoms", [g])
        for part in parts:
            ring = part.exterior if part.geom_type == "Polygon" else part
            cx, cy = ring.xy
            xs += [*map(float, cx), None]
            ys += [*map(float, cy), None]
    return xs, ys


def _write_html(path: Path, layers: dict[str, Any], segments: np.ndarray | None,
                title: str) -> Path:
    import plotly.graph_objects as go

    from symbiosis.geo.basemap import basemap_within

    fig = go.Figure()
    x0, y0, x1, y1 = _extent(layers)
    base = basemap_within((x0, y0, x1, y1), margin_deg=0.5)
    if base.rings:  # the offline basemap (geo.basemap): boundaries and place labels
        bx, by = base.lines()
        fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", name="provincial boundary",
                                 hoverinfo="skip", line={"color": "#9a9a9a", "width": 1}))
    labels = [p for p in base.places if x0 <= p.lon <= x1 and y0 <= p.lat <= y1]
    if labels:
        fig.add_trace(go.Scatter(
            x=[p.lon for p in labels], y=[p.lat for p in labels], mode="text",
            text=[p.name_en.upper() if p.kind == "province" else p.name_en for p in labels],
            name="places", hoverinfo="skip", textfont={"color": "#666666"}))
    if segments is not None and len(segments):
        n = len(segments)
        rx = np.column_stack([segments[:, 0, 0], segments[:, 1, 0], np.full(n, np.nan)]).ravel()
        ry = np.column_stack([segments[:, 0, 1], segments[:, 1, 1], np.full(n, np.nan)]).ravel()
        fig.add_trace(go.Scattergl(x=rx, y=ry, mode="lines", name="roads", hoverinfo="skip",
                                   line={"color": "#d9d9d9", "width": 1}))
    for name, style in (("parks", ("#b59b3a", "rgba(255,242,204,0.5)")),
                        ("zones", ("#3a7bd5", "rgba(207,232,255,0.5)"))):
        frame = layers.get(name)
        if frame is None or not len(frame):
            continue
        for _, row in frame.iterrows():
            xs, ys = _polyline_xy([row.geometry])
            polygon = row.geometry.geom_type in ("Polygon", "MultiPolygon")
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", name=f"{name}: {row['name']}",
                fill="toself" if polygon else None, fillcolor=style[1] if polygon else None,
                line={"color": style[0], "width": 1.5}, hoverinfo="name", showlegend=False))
    for material, group in layers["exchanges"].groupby("material", sort=True):
        xs, ys = _polyline_xy(group.geometry)
        text: list[str | None] = []
        for row, g in zip(group.itertuples(), group.geometry, strict=True):
            label = (f"{row.offer_enterprise_id} → {row.need_enterprise_id}<br>{material}: "
                     f"{row.quantity:,.0f} {row.unit}/yr, {row.distance_km:.1f} km "
                     f"({row.distance_source})")
            count = sum(len(p.coords) for p in getattr(g, "geoms", [g]))
            text += [label] * count + [None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=str(material), text=text,
                                 hoverinfo="text",
                                 line={"color": material_colour(str(material)), "width": 2.5}))
    pts = layers["enterprises"]
    fig.add_trace(go.Scatter(
        x=pts.geometry.x, y=pts.geometry.y, mode="markers", name="enterprises",
        marker={"color": pts["colour"].tolist(), "size": 8, "line": {"width": 0.5}},
        text=[f"{i} {n}<br>{r}; park: {p or '-'}" for i, n, r, p
              in zip(pts["id"], pts["name"], pts["role"], pts["park"], strict=True)],
        hoverinfo="text"))
    fig.update_layout(title=title, plot_bgcolor="white", paper_bgcolor="white",
                      xaxis={"title": "longitude (WGS 84)", "showgrid": False,
                             "range": [x0, x1], "constrain": "domain"},
                      yaxis={"title": "latitude (WGS 84)", "showgrid": False,
                             "scaleanchor": "x", "scaleratio": _aspect(pts),
                             "range": [y0, y1], "constrain": "domain"},
                      legend={"title": {"text": "exchanged material"}}, height=850)
    path.write_text(fig.to_html(full_html=True, include_plotlyjs=True), encoding="utf-8")
    return path
