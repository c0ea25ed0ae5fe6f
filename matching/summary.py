"""summary.json as a typed model: `MatchSummary`, its schema and its one serializer.

Every reader (CLI tables, reports, the store's run records, the HTTP API, the web page,
scenarios) reads these fields, never string keys of a dict. `symbiosis schema summary`
prints the JSON Schema; the OpenAPI publishes it. Bump `SCHEMA_VERSION` when a field changes
meaning or goes away (adding an optional field keeps the version).

Units: quantities per year in the material's unit (t, GJ, m3); `*_t` in tonnes, `*_cny` in
CNY/yr, `*_km` in km; rates are fractions (0.57, not 57).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from symbiosis.jsonio import json_safe
from symbiosis.matching.options import MatchParameters

__all__ = ["SCHEMA_VERSION", "BulkGroup", "BulkMaterial", "BulkSolidWaste", "BulkTotals",
           "Carbon", "Economics", "Factor", "FamilyTotals", "Headline",
           "MatchSummary", "MaterialTotals", "NeedMaterialTotals", "RunParameters",
           "SolverSummary", "SourcedTarget", "SparseCertificate", "Target", "stored_headline",
           "summary_schema"]

SCHEMA_VERSION: Literal[2] = 2  # 1: the untyped dict written before the schema existed
Family = Literal["mass", "energy", "water"]


class _Model(BaseModel):
    # defer_build: a model's validator is built when it is first used, not at import; a
    # match run validates MatchSummary (whose schema holds the parts it uses) and none of
    # the ~40 parts on their own, which saved 5-13 ms of every CLI start
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SnapDistance(_Model):
    """How far enterprises lie from the road they were snapped to, m."""

    median: float
    max: float


class RoadsSummary(_Model):
    """The road network a run used (geo.context)."""

    source: str
    crs: str | None
    nodes: int
    segments: int
    total_km: float
    snap_m: SnapDistance
    far_from_road: dict[str, float] = Field(description="enterprise id -> snap distance, m")
    not_on_main_component: list[str]
    exchanges_by_distance_source: dict[str, int]
    rule: str


class ExchangeSplit(_Model):
    """Exchanges of one kind (within a park, across parks, outside parks)."""

    exchanges: int
    quantity: dict[str, float] = Field(description="unit (t, GJ, m3) -> quantity per year")
    t_km: float


class ParkTotals(_Model):
    """One park: its offers in t and what the plan delivers from them."""

    enterprises: int
    offered_t: float
    matched_t: float
    utilization_rate: float | None
    exchanges_from_park: int
    exchanges_within_park: int
    within_park_quantity: dict[str, float]


class ParksSummary(_Model):
    """Per park, and the split of exchanges within, across and outside parks (geo.parks)."""

    enterprises_in_parks: int
    parks: dict[str, ParkTotals]
    exchanges: dict[Literal["within_park", "across_parks", "outside_parks"], ExchangeSplit]
    within_park_share_of_mass: float | None
    assigned_by_polygon: int = 0


class EstimatesSummary(_Model):
    """How much of the plan rests on listings estimated from capacities (symbiosis.estimate);
    mass only, t/yr."""

    offers: int
    needs: int
    tonnes_offered: float = Field(description="Central estimates of the estimated offers.")
    tonnes_offered_low: float
    tonnes_offered_high: float
    tonnes_matched: float = Field(description="Taken by the plan from estimated offers.")
    tonnes_matched_if_low: float = Field(
        description="What the plan's routes would carry from them if every estimate were at "
                    "its low end: sum of min(matched, low) over the estimated offers.")
    share_of_matched: float | None = Field(
        description="tonnes_matched / all mass matched.")
    tonnes_into_estimated_needs: float


class ZonesSummary(_Model):
    """Restricted zones and what they changed (geo.zones); rows as geo writes them."""

    source: str
    zones: list[dict[str, Any]]
    chemical_within_1km_of_shoreline: list[dict[str, Any]]
    excluded_pairs: list[dict[str, Any]]
    rerouted_pairs: list[dict[str, Any]]


class RunParameters(MatchParameters):
    """The run's parameters (MatchOptions' model fields) and the distance and reach rules
    they gave, in words."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    distance: str = Field(description="How distance_km was computed.")
    reach: str = Field(description="Which reach applied.")


class Target(_Model):
    """A target rate with its source."""

    value: float = Field(description="Fraction, e.g. 0.57.")
    source: str


class Factor(_Model):
    """A coefficient with its unit, source and confidence mark."""

    value: float
    unit: str
    source: str
    confidence: str


class FamilyTotals(_Model):
    """One unit family (mass in t, energy in GJ, water in m3), per year."""

    unit: str
    offered: float
    needed: float
    matched: float = Field(description="Offered units delivered.")
    met: float = Field(description="Need units met (matched x ratio).")
    utilization_rate: float | None = Field(description="matched / offered.")
    unit_km: float = Field(description="Sum of quantity x distance_km (t-km, GJ-km, m3-km).")
    exchanges: int


class MaterialTotals(_Model):
    """One offered material."""

    name_en: str
    name_zh: str
    unit: str
    family: Family
    offered: float
    matched: float
    unmatched: float
    utilization_rate: float | None
    exchanges: int
    unit_km: float


class NeedMaterialTotals(_Model):
    """One needed material."""

    unit: str
    needed: float
    met: float
    met_rate: float | None


class RateSource(_Model):
    """One economic rate the run used and where it came from."""

    material: str
    field: str
    value: float
    source: str


class Coverage(_Model):
    """How many listings gave the costs the money figures need."""

    offers_with_disposal_cost: int
    offers_with_treatment_cost: int
    offers: int
    needs_with_virgin_cost: int
    needs: int


class PriceMethod(_Model):
    """How delivered prices were set."""

    method: str | None
    note: str


class TransportRate(_Model):
    """The road rate for tonnes shown in the headline."""

    value: float
    unit: str
    source: str
    confidence: str


class Economics(_Model):
    """Money per year (CNY/yr) of the plan."""

    currency: str = "CNY/yr"
    computed: bool = Field(True, description="False when the dataset gives no avoided cost "
                           "(disposal or virgin): saving figures are then null.")
    note: str = ""
    saving_cny: float | None
    avoided_disposal_cny: float | None
    avoided_virgin_cny: float | None
    transport_cny: float
    treatment_cny: float
    exchanges_losing_money: int | None
    transport_rate: TransportRate | None
    rates: list[RateSource]
    coverage: Coverage
    prices: PriceMethod


class CarbonFactor(_Model):
    """CO2e of the virgin production one unit of a need material displaces."""

    need_material: str
    displaced: str
    value: float
    unit: str
    source: str
    confidence: str


class ProcessingPower(_Model):
    """Grinding or treatment power a use needs, charged at the national grid factor."""

    need_material: str
    offer_material: str
    kwh_per_unit: float
    unit: str
    kg_co2e_per_unit: float
    source: str
    confidence: str
    grid_factor: dict[str, Any]


class Carbon(_Model):
    """CO2e per year of the plan (t CO2e/yr): net = avoided - transport - processing."""

    unit: str = "t CO2e/yr"
    avoided_t: float
    transport_t: float
    processing_t: float = Field(0.0, description="Grinding/treatment power x grid factor.")
    net_t: float
    factors: list[CarbonFactor]
    processing: list[ProcessingPower] = Field(default_factory=list)


class SourcedTarget(_Model):
    """A target rate with every source that states it."""

    value: float = Field(description="Fraction, e.g. 0.57.")
    sources: list[str]
    confidence: str
    note: str = ""


class BulkTotals(_Model):
    """Official-rate figures of a set of bulk offers, t/yr."""

    generated: float = Field(description="This year's generation (产生量); blank = "
                             "quantity + used_existing.")
    used_existing: float = Field(description="Already utilised in-house or under existing "
                                 "contracts, never reassigned.")
    matched: float = Field(description="Delivered by the plan (surplus, then stockpile).")
    matched_from_surplus: float
    stock: float = Field(description="Historical stockpile offered (往年贮存量).")
    stock_used: float = Field(description="Part of matched drawn from the stockpile.")
    utilization_rate: float | None = Field(
        description="(used_existing + matched) / (generated + stock_used).")
    baseline_rate: float | None = Field(description="used_existing / generated.")


class BulkMaterial(BulkTotals):
    """One bulk material."""

    name_en: str
    name_zh: str
    group: str
    sub_target: SourcedTarget | None
    sub_target_met: bool | None
    scope_source: str
    scope_confidence: str


class BulkGroup(BulkTotals):
    """A group of bulk materials with a sub-target (e.g. smelting slag excluding red mud)."""

    materials: list[str]
    target: SourcedTarget
    target_met: bool | None


class BulkSolidWaste(BulkTotals):
    """大宗工业固废综合利用率 before (`baseline_rate`) and after the plan
    (`utilization_rate`), against the 57 % target (see `matching.official_rate`).

    `official` is False when the dataset gives no `generated`/`used_existing` values: the
    rate then covers the listed surplus only, is not the official indicator, and
    `target_met` is None."""

    official: bool
    unit: str = "t/yr"
    target: SourcedTarget
    target_met: bool | None
    offers_counted: int
    offers_with_baseline: int
    materials_counted: list[str]
    materials_excluded: list[str] = Field(description="Offered materials outside the bulk "
                                          "scope (heat, water, non-bulk materials).")
    materials: dict[str, BulkMaterial]
    groups: dict[str, BulkGroup]
    note: str

class ParkExchanges(_Model):
    """Exchanges of one kind (inside the park, out of it, into it) in a park-scoped run."""

    exchanges: int
    tonnes: float = Field(description="Mass-family quantity, t/yr.")
    tonne_km: float
    by_family: dict[str, float] = Field(description="Offer units per family, per year.")
    share_of_tonnes: float | None


class ParkScope(_Model):
    """One park's slice of the region's plan (`matching.park_scope`): its own official rate
    over its offers wherever they are used, and intra-park vs cross-boundary exchanges."""

    park: str
    enterprises: int
    offers: int
    needs: int
    partners_outside: int = Field(description="Enterprises outside the park it trades with.")
    tonnes_offered: float
    tonnes_matched: float
    listed_surplus_share_matched: float | None
    bulk_solid_waste: BulkSolidWaste
    exchanges: dict[str, ParkExchanges] = Field(
        description="intra_park, outbound (park supplier), inbound (park receiver).")
    co2_net_t: float | None = Field(None, description="Over the exchanges touching the park.")
    saving_cny: float | None = Field(None, description="Over the exchanges touching the "
                                                       "park; None without costs.")
    note: str


class SparseCertificate(_Model):
    """The certificate of a sparse solve (`matching.sparse`): the model was solved on a
    subset of the arcs, grown by pricing until no candidate arc had a negative reduced cost,
    which proves the plan optimal for the full model."""

    rounds: int = Field(description="Sparse solves run (the last one priced out nothing).")
    arcs_priced: int = Field(description="Reduced costs computed, over all rounds.")
    arcs_added: int = Field(description="Arcs that priced out and joined the set.")
    arcs_solved: int = Field(description="Arcs in the final sparse set.")
    arcs_total: int = Field(description="Candidate arcs of the full model.")
    k: int = Field(description="Nearest arcs per offer and per need in the first set.")
    big_m: int = Field(description="Cost of an unserved unit in the priced single-stage "
                                   "model (distance-scale integers).")
    violations: int = Field(description="Negative reduced costs left (0: certified).")
    added_per_round: list[int] = Field(
        default_factory=list, description="Arcs each round added (the last: 0).")
    round_seconds: list[float] = Field(
        default_factory=list, description="Seconds of each round: solve, potentials, "
                                          "pricing.")
    resolved_per_round: list[int] = Field(
        default_factory=list, description="Arcs each round solved: with min_cost_flow the "
                                          "components that gained arcs (the others keep "
                                          "their flows); with network_simplex every arc "
                                          "of the set, from the last round's basis.")
    solver: Literal["network_simplex", "min_cost_flow", "both"] = Field(
        "min_cost_flow", description="The rounds' solver: the warm-started network "
                                     "simplex (matching.netsimplex), OR-Tools' min-cost "
                                     "flow from scratch, or both (networks whose costs "
                                     "are too large for the simplex's int64 potentials "
                                     "fall back to OR-Tools).")
    pivots_per_round: list[int] = Field(
        default_factory=list, description="Network simplex pivots of each round (empty "
                                          "for min_cost_flow).")


class MilpRelaxation(_Model):
    """What relaxing one binding limit is worth (re-solved with only that limit relaxed)."""

    limit: Literal["min_lot", "max_partners"]
    side: Literal["offer", "need"]
    listing: str = Field(description="The offer or need id.")
    current: float
    relaxed: float = Field(description="min_lot: 0; max_partners: one more.")
    objective_before: float = Field(description="The plan's objective on the components "
                                    "the listing touches.")
    objective_after: float
    gain: float = Field(description="objective_after - objective_before (objective units).")
    gain_bound: float = Field(description="At most this much (the re-solve's bound).")
    seconds: float


class MilpBatch(_Model):
    """One batch of whole components of the MILP and how its solve ended."""

    arcs: int
    components: int
    incumbent: float
    bound: float
    gap: float
    state: Literal["lp_bound", "optimal", "gap_reached", "time_limit", "not_started"] = \
        Field(description="lp_bound: proved by the LP bound alone; optimal / gap_reached: "
              "by MathOpt; time_limit: MathOpt stopped by its share of the budget; "
              "not_started: the budget was spent, the round-and-repair plan and LP bound.")
    seconds: float


class MilpSection(_Model):
    """The integer-logistics solve (`matching.milp`): incumbent, bound and gap always."""

    solver: str
    time_limit_s: float
    gap_target: float
    incumbent: float
    bound: float
    gap: float
    heuristic_objective: float = Field(description="The round-and-repair plan's objective.")
    heuristic_seconds: float
    first_plan_seconds: float = Field(0.0, description="Seconds into the solve when the "
                                      "first feasible plan (the first rounding) existed.")
    continuous_bound: float = Field(description="The LP relaxation's optimum (fixed and trip "
                                    "costs spread over full load).")
    components: int
    batches: int
    batches_at_target: int
    batches_solved: int = Field(0, description="Batches sent to MathOpt; the others were "
                                "proved within the gap by the LP bound alone.")
    batches_stopped: int = Field(0, description="Batches stopped by the time limit or "
                                 "never started (status time_limit).")
    batch_report: list[MilpBatch] = Field(default_factory=list, description="Per batch: "
                                          "incumbent, bound, gap and how it ended.")
    arcs: int
    arcs_pruned: int
    binaries: int
    trip_integers: int
    features: list[str]
    progress: list[list[float]] = Field(description="[seconds, incumbent, bound] of the "
                                        "largest batch, from the HiGHS log.")
    relaxations: list[MilpRelaxation]
    scope: str


class SolverSummary(_Model):
    """What the solvers did; `objective` of the final stage, its bound and relative gap."""

    status: str
    objective: float
    objective_meaning: str
    sense: Literal["minimise", "maximise"]
    bound: float
    gap: float
    seconds: float
    methods: list[str]
    delivered: float
    components: int
    integer_scales: dict[str, dict[str, int]]
    exact: bool = Field(True, description="False when an integer scale rounded quantities "
                        "or costs: the plan is optimal for the rounded data and `bound` is "
                        "an honest bound on the true optimum.")
    note: str = ""
    certificate: SparseCertificate | None = Field(
        default=None, description="With a sparse solve: how its optimality was proved.")
    milp: MilpSection | None = Field(
        default=None, description="With the integer-logistics MILP (issue 16).")


class MonthKpis(_Model):
    """One month of a monthly plan, mass family (t), in the month itself (not per year)."""

    month: int = Field(ge=1, le=12)
    offered_t: float
    needed_t: float
    matched_t: float = Field(description="Offered tonnes delivered in the month.")
    met_t: float = Field(description="Need tonnes met by the month's deliveries.")
    tonne_km: float
    stored_t: float = Field(description="Held in stores at the end of the month.")
    exchanges: int = Field(description="Exchanges (all families) with a flow this month.")


class StorageKpis(_Model):
    """One store of storage.csv in the plan, in its material's unit."""

    enterprise_id: str
    material: str
    side: Literal["supplier", "receiver"]
    capacity: float
    year_end: float = Field(description="Held on 31 December: not matched.")
    lost: float
    months_full: int
    holding_cost_cny: float
    marginal_used_per_unit: float | None = Field(
        description="Offered units more delivered a year per extra unit of capacity "
                    "(null: not computed).")
    marginal_unit_km_per_unit: float | None = Field(
        description="Change of unit-km a year per extra unit of capacity.")


class MonthlySummary(_Model):
    """A monthly plan (issue 15, `matching.monthly`): the months sum to the annual figures
    above (tonnes_matched, tonne_km), which stay where they are."""

    months: list[MonthKpis]
    storage: list[StorageKpis]
    profiles: dict[str, str] = Field(description="Profiles the listings named -> source.")
    year_end_stock_t: float
    lost_t: float
    holding_cost_cny: float
    stockpile_drawn: float = Field(0.0, description="Drawn from offers' historical "
                                   "stockpiles (`stock`) over the months, offer units (all "
                                   "families): the plan's own figure, where the annual "
                                   "figures attribute deliveries to this year's surplus "
                                   "first.")
    method: str
    note: str


__all__ += ["MonthKpis", "MonthlySummary", "StorageKpis"]


class Headline(_Model):
    """The headline figures: the web page's tiles, the API's run and scenario KPIs."""

    utilization_rate: float | None
    utilization_target: float
    tonnes_offered: float
    tonnes_matched: float
    tonnes_unmatched: float
    tonne_km: float
    average_haul_km: float | None
    co2_net_t: float | None
    co2_avoided_t: float | None
    co2_transport_t: float | None
    saving_cny: float | None
    transport_cny: float | None
    exchanges: int
    enterprises: int
    bulk_official: bool | None = Field(
        None, description="True: bulk_rate is the official 大宗工业固废综合利用率; False: it "
                          "covers the listed surplus only (no target claimed).")
    bulk_rate: float | None = Field(None, description="bulk_solid_waste.utilization_rate.")
    bulk_baseline_rate: float | None = None
    bulk_target_met: bool | None = None
    economics_computed: bool | None = Field(
        None, description="False: the dataset gives no costs, no saving is computed.")
    solver_exact: bool | None = Field(
        None, description="False: an integer scale rounded the data (see solver.note).")
    park: str | None = Field(None, description="A park-scoped run: the figures are the "
                                               "park's (its offers, exchanges touching it).")


class MatchSummary(_Model):
    """summary.json: the KPIs, parameters and solver facts of one match run."""

    schema_version: Literal[2] = SCHEMA_VERSION
    dataset: str = Field(description="Where the dataset was read from.")
    parameters: RunParameters
    enterprises: int
    offers: int
    needs: int
    candidate_arcs: int
    exchanges: int
    enterprise_pairs: int
    tonnes_offered: float = Field(description="Mass-family quantity offered, t/yr.")
    tonnes_matched: float = Field(description="Mass-family quantity delivered, t/yr.")
    tonnes_unmatched: float
    utilization_rate: float | None = Field(
        description="tonnes_matched / (tonnes_offered + stockpile drawn) (mass materials "
                    "listed in the dataset, the CLI contract's figure), NOT the official "
                    "rate (see `bulk_solid_waste`).")
    listed_surplus_share_matched: float | None = Field(
        None, description="Share of listed surplus matched: utilization_rate without slag "
                          "powder and steel slag powder, whose tonnes were counted as the "
                          "slag the grinding plant took in (no tonne counted twice).")
    bulk_solid_waste: BulkSolidWaste | None = Field(
        None, description="The official 大宗工业固废综合利用率, baseline and plan.")
    utilization_target: Target
    tonne_km: float
    average_haul_km: float | None
    transport_co2_t: float | None
    transport_co2_factor: Factor | None
    families: dict[Family, FamilyTotals]
    materials: dict[str, MaterialTotals]
    need_materials: dict[str, NeedMaterialTotals]
    economics: Economics | None = None
    carbon: Carbon | None = None
    roads: RoadsSummary | None = Field(None, description="With a road network.")
    parks: ParksSummary | None = Field(None, description="With parks.")
    zones: ZonesSummary | None = Field(None, description="With restricted zones.")
    estimates: EstimatesSummary | None = Field(
        None, description="With listings estimated from capacities (estimated = yes).")
    park_scope: ParkScope | None = Field(None, description="With a park-scoped run (--park).")
    monthly: MonthlySummary | None = Field(None, description="With months or storage.")
    warnings: list[str] = Field(default_factory=list)
    solver: SolverSummary
    timings_s: dict[str, float] = Field(default_factory=dict)

    @field_validator("timings_s")
    @classmethod
    def _round_timings(cls, value: dict[str, float]) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in value.items()}

    def headline(self) -> Headline:
        """The headline figures (a park-scoped run: the park's, see `stored_headline`)."""
        return stored_headline(self.model_dump(mode="json"))

    def to_json(self) -> str:
        """summary.json's text: NaN and infinities as null, non-ASCII kept."""
        return json.dumps(json_safe(self.model_dump(mode="json")), indent=2,
                          ensure_ascii=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready body (what `to_json` writes)."""
        body: dict[str, Any] = json_safe(self.model_dump(mode="json"))
        return body


def stored_headline(body: Mapping[str, Any]) -> Headline:
    """The headline of a stored summary body of any schema version (runs stored before the
    schema existed lack some sections): the one reader of untyped summary bodies."""
    carbon = body.get("carbon") or {}
    money = body.get("economics") or {}
    target = body.get("utilization_target")
    base: dict[str, Any] = {
        "utilization_rate": body.get("utilization_rate"),
        "utilization_target": target.get("value", 0.57) if isinstance(target, Mapping)
        else float(target if target is not None else 0.57),
        "tonnes_offered": body.get("tonnes_offered", 0.0),
        "tonnes_matched": body.get("tonnes_matched", 0.0),
        "tonnes_unmatched": body.get("tonnes_unmatched", 0.0),
        "tonne_km": body.get("tonne_km", 0.0),
        "average_haul_km": body.get("average_haul_km"),
        "co2_net_t": carbon.get("net_t"), "co2_avoided_t": carbon.get("avoided_t"),
        "co2_transport_t": carbon.get("transport_t"),
        "saving_cny": money.get("saving_cny"), "transport_cny": money.get("transport_cny"),
        "exchanges": body.get("exchanges", 0), "enterprises": body.get("enterprises", 0),
    }
    base.update(_headline_extras(body))
    return Headline(**base)


def _headline_extras(body: Mapping[str, Any]) -> dict[str, Any]:
    """The official rate, whether money and the plan are exact, and for a park-scoped run
    the park's own figures in place of the region's (bodies without them give None)."""
    money = body.get("economics") or {}
    solver = body.get("solver") or {}
    bulk = body.get("bulk_solid_waste") or {}
    out: dict[str, Any] = {"economics_computed": money.get("computed"),
                           "solver_exact": solver.get("exact")}
    park = body.get("park_scope")
    if isinstance(park, Mapping):
        bulk = park.get("bulk_solid_waste") or {}
        split = park.get("exchanges") or {}
        tonne_km = sum(float(v.get("tonne_km", 0.0)) for v in split.values())
        tonnes = sum(float(v.get("tonnes", 0.0)) for v in split.values())
        offered, matched = park.get("tonnes_offered", 0.0), park.get("tonnes_matched", 0.0)
        out.update(park=park.get("park"), enterprises=park.get("enterprises", 0),
                   exchanges=sum(int(v.get("exchanges", 0)) for v in split.values()),
                   utilization_rate=park.get("listed_surplus_share_matched"),
                   tonnes_offered=offered, tonnes_matched=matched,
                   tonnes_unmatched=max(0.0, float(offered) - float(matched)),
                   tonne_km=tonne_km, average_haul_km=tonne_km / tonnes if tonnes else None,
                   co2_net_t=park.get("co2_net_t"), co2_avoided_t=None,
                   co2_transport_t=None, saving_cny=park.get("saving_cny"),
                   transport_cny=None)
    out.update(bulk_official=bulk.get("official"), bulk_rate=bulk.get("utilization_rate"),
               bulk_baseline_rate=bulk.get("baseline_rate"),
               bulk_target_met=bulk.get("target_met"))
    return out


def summary_schema() -> dict[str, Any]:
    """The JSON Schema of summary.json (`symbiosis schema summary`)."""
    return MatchSummary.model_json_schema(mode="serialization")
