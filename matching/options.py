"""`MatchOptions`: the parameters of one match run, declared once.

The CLI's flags (`symbiosis match`, `frontier`, `demo`) and the HTTP run body
(`POST /api/runs`) are derived from these fields, so both accept exactly the same values
with the same bounds and defaults; frontier, scenarios, gaps and the job runner take the
object whole. Bad values raise `OptionsError` (the one error class for them) naming the
field; FastAPI reports the same bounds as 422 with the field's location.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)

from symbiosis.errors import OptionsError
from symbiosis.geo.constants import DEFAULT_CIRCUITY, EARTH_RADIUS_KM

__all__ = ["MAX_REACH_KM", "WEIGHT_TERMS", "MatchOptions", "MatchParameters", "Method",
           "Objective", "format_weights", "parse_weights"]

# half the Earth's circumference: every pair of points lies within it
MAX_REACH_KM = math.floor(math.pi * EARTH_RADIUS_KM)
WEIGHT_TERMS = ("utilization", "cost", "co2")


class Objective(StrEnum):
    """What the run optimises (DESIGN.md: utilization is the default, the others options)."""

    utilization = "utilization"
    cost = "cost"
    co2 = "co2"
    weighted = "weighted"


class Method(StrEnum):
    """Solver choice; `auto` uses min-cost flow wherever the model is a pure network, on
    every candidate arc (`dense`) below 500,000 network arcs and certified sparse from there
    (`matching.model.SPARSE_AUTO_MIN_ARCS`); `sparse` solves the default objective's
    min-cost flow on the nearest arcs and proves the plan optimal by pricing every other
    arc (`matching.sparse`)."""

    auto = "auto"
    mcf = "mcf"
    lp = "lp"
    sparse = "sparse"
    dense = "dense"
    milp = "milp"  # trucks, minimum lots, contracts, pipes (matching.milp); issue 16


Weights = tuple[tuple[str, float], ...]


def parse_weights(text: str) -> Weights:
    """`cost=1,co2=80` -> (("cost", 1.0), ("co2", 80.0)).

    Raises:
        OptionsError: a term that is not `name=number` with a known name, a negative or
            non-finite number, a term given twice, or no positive term.
    """
    terms: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in WEIGHT_TERMS:
            raise OptionsError("weights", f"'{part}' is not term=number with a term in "
                                          f"{', '.join(WEIGHT_TERMS)}")
        try:
            number = float(value)
        except ValueError:
            raise OptionsError("weights", f"'{value.strip()}' in '{part}' is not a number") \
                from None
        if not math.isfinite(number) or number < 0:
            raise OptionsError("weights", f"{name} must be a finite number >= 0, got {value}")
        if name in terms:
            raise OptionsError("weights", f"'{name}' is given twice")
        terms[name] = number
    if not any(terms.values()):
        raise OptionsError("weights", "give at least one positive term, e.g. cost=1,co2=80")
    return tuple(terms.items())


def format_weights(weights: Weights) -> str:
    """(("cost", 1.0), ("co2", 80.0)) -> `cost=1,co2=80` (the form parse_weights reads)."""
    return ",".join(f"{name}={value:g}" for name, value in weights)


class MatchParameters(BaseModel):
    """The model's parameters: what a person chooses for a run, on the CLI or over HTTP."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              use_enum_values=False)

    objective: Objective = Field(
        Objective.utilization,
        description="utilization (default): deliver the most by-product, then the fewest "
                    "quantity x km, each unit family on its own; cost: the largest total "
                    "saving (CNY); co2: the most CO2e avoided net of haulage; weighted: a "
                    "sum set by weights.")
    weights: Annotated[Weights, WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}],
         "examples": ["cost=1,co2=80"]})] = Field(
        (), description="For objective weighted: terms among utilization (per unit "
                        "delivered), cost (per CNY), co2 (per t CO2e), e.g. cost=1,co2=80 "
                        "values CO2 at 80 CNY/t.")
    max_km: Annotated[float, Field(gt=0, le=MAX_REACH_KM)] | None = Field(
        None, description="Reach in km for every material, overriding each material's "
                          "default reach.")
    circuity: float = Field(
        DEFAULT_CIRCUITY, ge=1.0, le=5.0,
        description="Road km per straight-line km, for pairs without a known road distance "
                    "(>= 1: a road is never shorter than the straight line).")
    transport_rate: Annotated[float, Field(ge=0, le=1000)] | None = Field(
        None, description="Road freight in CNY per t-km for materials in tonnes (default: "
                          "the cited factor; transport.csv rows for a material still win).")
    loading_cost: Annotated[float, Field(ge=0, le=10000)] | None = Field(
        None, description="Loading and unloading in CNY per t (default 0: no cited figure).")
    disposal_tax_floor: bool = Field(
        False, description="Take each offer's disposal cost as at least the environmental "
                           "protection tax on its material (Environmental Protection Tax "
                           "Law, schedule 1: 5-25 CNY/t); only where the waste would "
                           "otherwise be stored or disposed of in a way the tax applies to.")
    method: Method = Field(
        Method.auto, description="auto: min-cost flow where the model is a pure network, LP "
                                 "where a need is served at different ratios; mcf or lp to "
                                 "force one; sparse or dense to force the arc set of the "
                                 "min-cost flow (sparse: solved on the nearest arcs and "
                                 "proved optimal by pricing every other arc; auto is sparse "
                                 "from 500,000 network arcs).")
    time_limit_s: Annotated[float, Field(gt=0, le=86400)] | None = Field(
        None, description="Time limit in seconds for each LP solve; with method milp, for "
                          "the whole MILP (default 60).")
    accept_unstated_quality: bool = Field(
        False, description="Accept offers that do not state an attribute a rule limits; "
                           "each such exchange is flagged.")
    blend: bool = Field(
        False, description="Blend offers for every need with quality limits: several offers "
                           "meet a limit on their mass-weighted average, an offer alone over "
                           "it may take part (a need's blend=yes column does this for that "
                           "need alone). Solved as an LP (matching.blending).")
    heat_at_delivery: bool = Field(
        False, description="Heat by temperature: check waste heat's temperature where it "
                           "arrives, after the pipe's temperature drop, and lose heat per km "
                           "(coefficients in symbiosis/data/heat_pipes.csv). The default "
                           "wherever a waste-heat offer states a temperature, a medium or a "
                           "need a return (heat cascade); this flag asks for it explicitly.")
    heat_at_source: bool = Field(
        False, description="The old heat rule: check waste heat's temperature where it "
                           "leaves the source and take the rule's flat ratio (no loss per "
                           "km), instead of the default check at delivery.")
    # issue 16: integer logistics (matching.milp); any of these selects the MILP under auto
    contract_cost: Annotated[float, Field(ge=0, le=1e9)] | None = Field(
        None, description="Fixed cost of one exchange contract in CNY/yr, where neither "
                          "side states contract_cny_per_year (method milp).")
    max_partners: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        None, description="Most exchanges per offer and per need, where the listing states "
                          "no max_partners (method milp).")
    mip_gap: float = Field(
        1e-4, ge=0, le=1, description="Relative gap at which the MILP stops (0.01 = proven "
                                      "within 1 % of the optimum).")
    mip_solver: Literal["highs", "scip"] = Field(
        "highs", description="MILP solver shipped with OR-Tools (through MathOpt).")

    @field_validator("weights", mode="before")
    @classmethod
    def _read_weights(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                return parse_weights(value) if value.strip() else ()
            except OptionsError as exc:  # reported by pydantic at the `weights` field
                raise ValueError(exc.problems[0][1]) from None
        if isinstance(value, dict):
            return tuple(value.items())
        return value

    @field_serializer("weights")
    def _write_weights(self, weights: Weights) -> str | None:
        return format_weights(weights) if weights else None

    @model_validator(mode="after")
    def _weights_go_with_weighted(self) -> MatchParameters:
        if self.objective is Objective.weighted and not self.weights:
            raise ValueError("the weighted objective needs weights, e.g. cost=1,co2=80")
        if self.weights and self.objective is not Objective.weighted:
            raise ValueError(f"weights apply to the weighted objective, not "
                             f"'{self.objective}'")
        return self

    @field_validator("heat_at_source")
    @classmethod
    def _one_heat_rule(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("heat_at_delivery"):
            raise ValueError("heat is judged either at delivery or at the source: give "
                             "heat_at_delivery or heat_at_source, not both")
        return value


class MatchOptions(MatchParameters):
    """A run's parameters plus how to execute it (not part of the model: same optimum).

    Construct with keyword arguments; bad values raise `OptionsError` naming the field.
    `model_validate` (FastAPI) raises pydantic's `ValidationError` instead.
    """

    jobs: Annotated[int, Field(ge=1, le=256)] | None = Field(
        None, description="Worker processes for very large instances whose network splits "
                          "into independent parts (default: every usable core).")
    valuate: bool = Field(True, description="Derive dual values: core prices and marginal "
                                            "capacity values.")
    explain: bool | None = Field(
        None, description="Compute the explanations (alternatives per exchange, reasons per "
                          "unmatched offer) and dual values; default: yes up to 100,000 "
                          "candidate arcs, no above (the summary says what was skipped), yes "
                          "for a run scoped to one park (--park). "
                          "Never changes the plan or its figures.")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise OptionsError.from_validation(exc) from None

    @property
    def parameters(self) -> MatchParameters:
        """The model's parameters alone (what summary.json records)."""
        return MatchParameters.model_validate(
            self.model_dump(include=set(MatchParameters.model_fields)))

    @property
    def economics(self) -> Any:
        """The run-level economic overrides (`matching.economics.EconomicSettings`)."""
        from symbiosis.matching.economics import EconomicSettings

        return EconomicSettings(self.transport_rate, self.loading_cost,
                                self.disposal_tax_floor)
