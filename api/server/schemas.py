"""Request and response models, split by role as the FastAPI template does: `…Create`
(what a client sends to make one), `…Update` (every field optional), `…Public` (what it
gets back) and `…sPublic` (a page: `data` and the total `count`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from symbiosis.matching.options import MatchParameters
from symbiosis.matching.summary import Headline, MatchSummary

__all__ = [
    "Change", "EnterpriseCreate", "EnterprisePublic", "EnterpriseUpdate", "ErrorResponse",
    "KeyCreate", "KeyIssued", "KeyPublic", "ListingPage", "NeedCreate", "NeedPublic",
    "NeedUpdate", "OfferCreate", "OfferPublic", "OfferUpdate", "ParkCreate", "ParkPublic",
    "ParkUpdate", "RecordId", "RunMonthly", "RunOptions", "RunResult", "RunStatus",
]

# ids: letters (any script), digits and . _ : / - ; names: any text without control chars
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:/\-]+$",
                          examples=["XT-PWR1"])]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Sector = Annotated[str, Field(pattern=r"^[A-T]?\d{2,4}$", examples=["4411"],
                              description="GB/T 4754-2017 industry code")]
Attr = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
# strict: JSON true/false are not numbers (integers still are)
Quantity = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True,
                                  description="per year, in the material's unit")]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True,
                               description="CNY per unit of the material")]
Value = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False, strict=True)]


# integer ids in paths: bounded so they always fit SQLite's 64-bit integers
RecordId = Annotated[int, PathParam(ge=1, le=2**53, description="a numeric id")]


class Model(BaseModel):
    """Strict about unknown fields and non-finite numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorDetail(BaseModel):
    """The body of every error."""

    code: str = Field(examples=["forbidden"])
    message: str
    request_id: str
    problems: list[dict[str, Any]] | None = Field(
        None, description="file, row, column, message, severity of each problem (at most "
                          "200)")
    problems_omitted: int | None = Field(None, description="problems beyond those listed")


class ErrorResponse(BaseModel):
    """`{"error": {...}}`"""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "invalid_dataset", "message": "1 problem(s) in the data",
                   "request_id": "5f2c0e8a9b1d4c37",
                   "problems": [{"file": "body", "row": None, "column": "material",
                                 "message": "unknown material 'fly_ahs' (did you mean "
                                            "'fly_ash'?)", "severity": "error"}]}},
        {"error": {"code": "forbidden", "message": "this key may not access this enterprise",
                   "request_id": "0b6d1f2e3a4c5d6e"}}]})

    error: ErrorDetail


class Page(BaseModel):
    """A page of a listing and the total count of matching items."""

    count: int = Field(description="items matching the filters, over all pages")


# ------------------------------------------------------------------ enterprises


class EnterpriseCreate(Model):
    """A new enterprise (coordinates in WGS 84 decimal degrees)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"id": "YY-GYP1", "name": "Yueyang gypsum board plant (planned)",
                      "sector": "3024", "lon": 113.12, "lat": 29.35,
                      "park": "Yueyang Green Chemical Industrial Park"}]})

    id: Id | None = Field(None, description="admin only; others get an id picked by the store "
                                            "(E-000001 ...)")
    name: Text
    sector: Sector | None = None
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, strict=True)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, strict=True)
    park: Text | None = None


class EnterpriseUpdate(Model):
    """Fields to change; the id stays."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"name": "Xiangtan power plant unit 2", "lon": 112.88}]})

    name: Text | None = None
    sector: Sector | None = None
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, strict=True)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, strict=True)
    park: Text | None = None


class EnterprisePublic(BaseModel):
    """An enterprise as a permitted key sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "XT-PWR1", "name": "Xiangtan coal power plant (illustrative)",
         "sector": "4411", "lon": 112.87968, "lat": 27.86349,
         "park": "Xiangtan Economic Development Zone (illustrative)"}]})

    id: str
    name: str | None
    sector: str | None
    lon: float
    lat: float
    park: str | None


class EnterprisesPublic(Page):
    """A page of enterprises."""

    data: list[EnterprisePublic]


# ------------------------------------------------------------------ listings


class OfferCreate(Model):
    """A by-product an enterprise can give."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"enterprise_id": "XT-PWR1", "material": "fly_ash", "quantity": 120000,
                      "disposal_cost": 30, "treatment_cost": 10,
                      "quality": {"loi_pct": 4.5}}]})

    id: Id | None = Field(None, description="admin only; by default the store picks one "
                                            "(OF-000001 ...)")
    enterprise_id: Id
    material: Annotated[str, Field(min_length=1, max_length=64, examples=["fly_ash"])]
    quantity: Quantity
    disposal_cost: Money | None = None
    treatment_cost: Money | None = None
    quality: dict[Attr, Value] = Field(default_factory=dict,
                                       description="attribute -> value (q.<attribute>)")


class OfferUpdate(Model):
    """Fields to change; a quality attribute set to null is removed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"quantity": 90000, "quality": {"loi_pct": 5.2}}]})

    material: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    quantity: Quantity | None = None
    disposal_cost: Money | None = None
    treatment_cost: Money | None = None
    quality: dict[Attr, Value | None] | None = None


class OfferPublic(BaseModel):
    """An offer."""

    id: str
    enterprise_id: str
    material: str
    unit: str
    quantity: float
    disposal_cost: float | None
    treatment_cost: float | None
    quality: dict[str, float]


class NeedCreate(Model):
    """An input an enterprise takes in, with its limits on the offers' quality."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"enterprise_id": "XX-CEM1", "material": "set_retarder",
                      "quantity": 30000, "virgin_cost": 60,
                      "min": {"caso4_2h2o_pct": 85}}]})

    id: Id | None = Field(None, description="admin only; by default the store picks one "
                                            "(ND-000001 ...)")
    enterprise_id: Id
    material: Annotated[str, Field(min_length=1, max_length=64, examples=["set_retarder"])]
    quantity: Quantity
    virgin_cost: Money | None = None
    min: dict[Attr, Value] = Field(default_factory=dict, description="min.<attribute>")
    max: dict[Attr, Value] = Field(default_factory=dict, description="max.<attribute>")


class NeedUpdate(Model):
    """Fields to change; a limit set to null is removed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"quantity": 25000, "max": {"loi_pct": 8}}]})

    material: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    quantity: Quantity | None = None
    virgin_cost: Money | None = None
    min: dict[Attr, Value | None] | None = None
    max: dict[Attr, Value | None] | None = None


class NeedPublic(BaseModel):
    """A need."""

    id: str
    enterprise_id: str
    material: str
    unit: str
    quantity: float
    virgin_cost: float | None
    min: dict[str, float]
    max: dict[str, float]


class ListingPage(Page):
    """A page of offers or needs."""

    data: list[dict[str, Any]]


# ------------------------------------------------------------------ parks


class ParkCreate(Model):
    """Register a park (its enterprises name it in their `park` field)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name": "Xiangtan Economic Development Zone (illustrative)",
                      "name_zh": "湘潭经济技术开发区(示例)"}]})

    name: Text
    name_zh: Text | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class ParkUpdate(Model):
    """Fields to change; a new name moves every enterprise of the park with it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name_zh": "湘潭经开区", "note": "one park, one plan: 2026 review"}]})

    name: Text | None = None
    name_zh: Text | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class ParkPublic(BaseModel):
    """A park, its counts and the centre of its enterprises."""

    name: str
    name_zh: str | None
    note: str | None
    registered: bool = Field(description="registered through the API (else only named by "
                                         "enterprises)")
    enterprises: int
    offers: int
    needs: int
    lon: float | None
    lat: float | None


class ParksPublic(Page):
    """Parks."""

    data: list[ParkPublic]


# ------------------------------------------------------------------ keys


class KeyCreate(Model):
    """A key for a role and a scope."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"role": "enterprise", "scope": "XT-PWR1",
                      "label": "Xiangtan power plant environment office"}]})

    role: Literal["admin", "park_manager", "enterprise", "recycler"]
    scope: Annotated[str, Field(min_length=1, max_length=200,
                                pattern=r"^[^\x00-\x1f\x7f]+$")] = Field(
        description="'*' for admin, a park name for park_manager, an enterprise id otherwise")
    label: Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""


class KeyPublic(BaseModel):
    """A key without its secret."""

    id: str
    role: str
    scope: str
    label: str
    created_at: str
    revoked_at: str | None


class KeyIssued(KeyPublic):
    """A new key: `key` is shown this once and never again."""

    key: str


class KeysPublic(Page):
    """Keys."""

    data: list[KeyPublic]


class Me(BaseModel):
    """Who the key is."""

    key_id: str
    role: str
    scope: str
    label: str


# ------------------------------------------------------------------ runs


class RunOptions(MatchParameters):
    """Match parameters: `MatchParameters` (the same fields, bounds and defaults as the CLI's
    flags, declared once in matching/options.py) and the park to run."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              json_schema_extra={"examples": [
                                  {"park": "Xiangtan Economic Development Zone (illustrative)",
                                   "objective": "utilization"},
                                  {"objective": "weighted", "weights": "cost=1,co2=80",
                                   "max_km": 120}]})

    park: Text | None = Field(None, description="match one park's enterprises; default: the "
                                                "whole region (admin only)")


class RunStatus(BaseModel):
    """Where a run stands; `kpis` once it succeeded."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 7, "status": "succeeded", "progress": 1.0, "phase": "done",
        "park": "Xiangtan Economic Development Zone (illustrative)",
        "parameters": {"objective": "utilization", "circuity": 1.3, "max_km": None},
        "created_at": "2026-11-23T09:00:00.000000+00:00",
        "started_at": "2026-11-23T09:00:00.010000+00:00",
        "finished_at": "2026-11-23T09:00:00.210000+00:00", "error": None,
        "store_run_id": 7, "dataset_version": 3,
        "kpis": {"utilization_rate": 0.768, "utilization_target": 0.57,
                 "tonnes_offered": 10083000.0, "tonnes_matched": 7743000.0,
                 "tonne_km": 287935047.5, "co2_net_t": 3500000.0, "saving_cny": 5.1e8,
                 "exchanges": 59}}]})

    id: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    phase: str
    park: str | None
    parameters: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    store_run_id: int | None
    dataset_version: int | None
    kpis: Headline | None


class MonthlyTables(BaseModel):
    """A monthly plan's tables (issue 15): exchanges_monthly.csv and storage.csv as rows
    (`api.server.run_extras.monthly_tables`; a park run: the park's rows only)."""

    exchanges: list[dict[str, Any]] = Field(description="One row per exchange and month "
                                            "with a flow: `month`, then the exchange columns.")
    storage: list[dict[str, Any]] = Field(description="One row per store: `capacity`, "
                                          "`m01`..`m12` month-end levels, `year_end` ...")


class RunResult(BaseModel):
    """A run's full result: its headline, summary.json (schema `symbiosis schema summary`)
    and the rows of its output files."""

    id: int
    park: str | None
    kpis: Headline
    summary: MatchSummary
    enterprises: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]
    offers: list[dict[str, Any]]
    needs: list[dict[str, Any]]
    monthly: MonthlyTables | None = Field(None, description="A monthly plan's tables.")


class MonthPoint(BaseModel):
    """One month of a monthly plan, mass family, tonnes in the month (summary.json's
    `monthly.months`, plus the month's unmatched figures)."""

    month: int = Field(ge=1, le=12)
    offered_t: float
    needed_t: float
    matched_t: float = Field(description="Offered tonnes delivered in the month.")
    met_t: float = Field(description="Need tonnes met by the month's deliveries.")
    unmatched_t: float = Field(description="offered_t - matched_t: offered in the month "
                               "and not delivered in it (into a store, or never); "
                               "negative when the month delivers from stores.")
    unmet_t: float = Field(description="needed_t - met_t: need the month leaves open.")
    stored_t: float = Field(description="Held in stores at the end of the month.")


class StoreLevels(BaseModel):
    """One store's month-end levels, in its material's unit."""

    enterprise_id: str
    material: str
    side: str
    unit: str
    capacity: float
    levels: list[float] = Field(min_length=12, max_length=12,
                                description="Held at the end of January .. December.")
    year_end: float


class RunMonthly(BaseModel):
    """What the page's monthly charts draw (`GET /api/runs/{id}/monthly`): per month the
    matched tonnes against supply and demand and what stays unmatched, and each store's
    level. Months are the region's plan (a park run: aggregates of the whole region, the
    park's own stores; `park_view`)."""

    run_id: int
    park: str | None
    months: list[MonthPoint]
    stores: list[StoreLevels]
    year_end_stock_t: float
    lost_t: float
    method: str
    note: str


class RunsPublic(Page):
    """Runs, newest first."""

    data: list[RunStatus]


# ------------------------------------------------------------------ scenarios


class PlannedListing(Model):
    """A listing of a planned enterprise."""

    material: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Quantity
    id: Id | None = None


class AddEnterprise(Model):
    """Add a planned enterprise with its offers and needs."""

    op: Literal["add_enterprise"]
    enterprise: EnterpriseCreate
    crs: Literal["wgs84", "gcj02", "bd09"] = Field(
        "wgs84", description="the coordinate system of enterprise.lon/lat, as the CLI's "
        "`crs`: wgs84 (GPS), gcj02 (Amap/Tencent), bd09 (Baidu); converted to WGS 84 "
        "(symbiosis.crs) before the scenario is solved")
    offers: list[PlannedListing] = Field(default_factory=list, max_length=100)
    needs: list[PlannedListing] = Field(default_factory=list, max_length=100)


class RemoveEnterprise(Model):
    """Take an enterprise out (a unit closing)."""

    op: Literal["remove_enterprise"]
    id: Id


class SetQuantity(Model):
    """Change a listing's quantity."""

    op: Literal["set_quantity"]
    listing: Literal["offer", "need"]
    id: Id
    quantity: Quantity


Change = Annotated[AddEnterprise | RemoveEnterprise | SetQuantity, Field(discriminator="op")]


class ScenarioRequest(Model):
    """A what-if on top of the stored data; nothing is stored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"park": None, "changes": [
            {"op": "add_enterprise",
             "enterprise": {"id": "PLAN-GYP", "name": "Planned gypsum board plant",
                            "sector": "3024", "lon": 112.95, "lat": 27.85},
             "needs": [{"material": "wallboard_gypsum", "quantity": 150000}]},
            {"op": "remove_enterprise", "id": "XT-PWR1"}]}]})

    park: Text | None = None
    changes: list[Change] = Field(max_length=200)
    options: RunOptions | None = None


class FeedstockQuery(Model):
    """A feedstock search around a point (recyclers and enterprises: their own site)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"material": "wallboard_gypsum", "radius_km": 80,
                      "sort": "delivered_cost"},
                     {"material": "fly_ash", "radius_km": 60,
                      "limits": {"max.loi_pct": 8}}]})

    material: Annotated[str, Field(min_length=1, max_length=64)]
    include_substitutes: bool = True
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    radius_km: float = Field(50, gt=0, le=2000, allow_inf_nan=False)
    limits: dict[Annotated[str, Field(pattern=r"^(min|max)\.[a-z][a-z0-9_]*$")],
                 Value] = Field(default_factory=dict)
    sort: Literal["distance", "delivered_cost"] = "distance"
    limit: int = Field(50, ge=1, le=500)


class ProposalCreate(Model):
    """Propose to take a feedstock offer (by its handle) into one of your own needs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
        "examples": [{"offer_handle": "fs_3q2v0mXb1c4d", "need_id": "ND-CS-BRK1-brick",
                      "quantity": 20000}]})

    offer_handle: Annotated[str, Field(min_length=1, max_length=64,
                                       pattern=r"^[\x21-\x7e]+$")]  # printable ASCII
    need_id: Id
    quantity: Quantity
