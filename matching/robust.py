"""Plans under uncertain volumes: sample offer and need quantities, solve each sample, and
read which exchanges hold up.

By-product volumes move 20-30 % from one year to the next (a unit's load, an ore grade, a
kiln's campaign). A plan contracted on one year's listing over-promises in a lean year. This
module draws `samples` alternative years, solves each to its optimum on the same candidate
arcs with the run's options, and reports:

- per exchange (offer -> need arc used in any sample): the share of samples that use it,
  the P10/P50/P90 and mean of its quantity over all samples (0 where unused), and its *firm
  quantity* at reliability p (below);
- the distribution (P10/P50/P90, mean, min, max) of the headline figures: the bulk solid
  waste rate (the official 大宗工业固废综合利用率 when the dataset gives a baseline, else
  the listed-surplus rate, labelled so), the share of listed mass surplus matched, tonnes
  matched and t-km;
- a robust plan.

Sampling (seeded; sample k draws from `numpy.random.default_rng(SeedSequence([seed, k]))`,
so a sample is the same whichever engine or worker solves it). Each listing's quantity is
multiplied by a factor F with mean 1 and coefficient of variation c (the listing's `cv`
column where given, else the run's `cv`; c = 0 keeps it exactly):

| distribution | F                                                            |
|--------------|--------------------------------------------------------------|
| lognormal    | exp(mu + sigma Z), sigma^2 = ln(1 + c^2), mu = -sigma^2 / 2 (default) |
| normal       | max(0, 1 + c Z)                                              |
| uniform      | max(0, 1 + c sqrt(3) U), U uniform on [-1, 1]                |

An offer's `generated` (the official rate's denominator) moves by the same tonnes as its
surplus: generated_k = max(used_existing, generated + quantity_k - quantity), because the
year's extra or missing generation is surplus, existing contracts (`used_existing`) stay.

The robust plan: the exchanges whose firm quantity at reliability p (default 0.8) is
positive, contracted at that firm quantity. The firm quantity of an exchange is the largest
quantity it carries in at least p of the samples: with its sample quantities sorted from
large to small, the ceil(p S)-th. This is the reliability notion of water-resource
planning (a reservoir's firm yield: the release met in a stated share of years; Hashimoto,
Stedinger & Loucks 1982, "Reliability, resiliency, and vulnerability criteria for water
resource system performance evaluation", Water Resources Research 18(1):14-20) applied to
the sample of optimal plans (Monte-Carlo scenario analysis). Why this and not a two-stage
stochastic programme solved by sample average approximation (Kleywegt, Shapiro &
Homem-de-Mello 2002, SIAM J. Optim. 12(2):479-502): with contracted quantities that cost
nothing to hold, the SAA optimum contracts the envelope of every sample's plan, which no
park can sign; making it meaningful needs a price for unused contracted capacity (take-or-
pay, a penalty), which no dataset here gives. The firm quantity needs no invented price, is
read directly from the samples, and says what a park manager asks: "which exchanges, and
how much of each, can I count on in 8 years out of 10?". The report also gives the share of
samples whose volumes carry the whole robust plan at once (every offer supplies and every
need takes its contracted sum), which is at most p and is stated, not assumed.

With c = 0 every sample is the listing itself, so the robust plan is the plain plan
(`solve_match`), exchange for exchange (tests/matching/test_robust.py).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.bulk import BulkScope, load_bulk_scope
from symbiosis.dataset import Dataset
from symbiosis.errors import OptionsError
from symbiosis.matching.blending import Grades, prepare_grades
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.model import solve_candidates
from symbiosis.matching.official_rate import bulk_solid_waste
from symbiosis.matching.options import MatchOptions

if TYPE_CHECKING:
    from symbiosis.matching.distributed import Engine

__all__ = ["KPI_NAMES", "ROBUST_COLUMNS", "Distribution", "RobustOptions", "RobustResult",
           "robust_plan", "sample_factors"]

FLOW_EPS = 1e-9  # relative: flows below this are solver noise (as matching.result)
SAMPLE_TASKS = 32  # engine tasks a run's samples are split into (batches of samples)
KPI_NAMES = ("bulk_rate", "share_matched", "tonnes_matched", "tonne_km")
ROBUST_COLUMNS = ["offer_id", "need_id", "offer_enterprise_id", "need_enterprise_id",
                  "offer_material", "need_material", "distance_km", "unit", "plan_quantity",
                  "used_share", "mean", "p10", "p50", "p90", "firm_quantity", "robust"]
METHOD_NOTE = ("robust plan: exchanges whose firm quantity at the stated reliability is > 0, "
               "contracted at it; firm quantity = the largest quantity the exchange carries "
               "in at least that share of the sampled optimal plans (reliability as in "
               "Hashimoto, Stedinger & Loucks 1982, Water Resources Research 18(1):14-20); "
               "quantiles P10/P50/P90 over all samples, 0 where unused (numpy linear, "
               "Hyndman & Fan type 7)")


class Distribution(StrEnum):
    """How a year's volume scatters around the listed one (mean kept, see the module)."""

    lognormal = "lognormal"
    normal = "normal"
    uniform = "uniform"


@dataclass(frozen=True)
class RobustOptions:
    """The sampling and the robust plan's reliability.

    `cv` is the coefficient of variation of every listing without its own `cv` (0.25:
    by-product volumes vary 20-30 % a year); `reliability` the share of samples a robust
    exchange's quantity must be carried in; `vary` which listings are sampled.

    Raises:
        OptionsError: samples < 1 or > 100,000, cv < 0 or not finite, reliability outside
            (0, 1], an unknown distribution or `vary`.
    """

    samples: int = 200
    seed: int = 0
    distribution: Distribution = Distribution.lognormal
    cv: float = 0.25
    reliability: float = 0.8
    vary: str = "both"  # offers, needs or both

    def __post_init__(self) -> None:
        if not 1 <= int(self.samples) <= 100_000:
            raise OptionsError("samples", f"must be 1 to 100,000, got {self.samples}")
        if not math.isfinite(self.cv) or self.cv < 0:
            raise OptionsError("cv", f"must be a finite number >= 0, got {self.cv}")
        if not 0 < self.reliability <= 1:
            raise OptionsError("reliability", f"must be in (0, 1], got {self.reliability}")
        if self.vary not in ("offers", "needs", "both"):
            raise OptionsError("vary", f"must be offers, needs or both, got '{self.vary}'")
        try:
            object.__setattr__(self, "distribution", Distribution(self.distribution))
        except ValueError:
            raise OptionsError("distribution", f"must be one of "
                               f"{', '.join(d.value for d in Distribution)}, got "
                               f"'{self.distribution}'") from None


@dataclass(frozen=True)
class RobustResult:
    """`exchanges`: ROBUST_COLUMNS, one row per arc used in any sample (robust first, then by
    used share, quantity); `samples`: one row per sample with KPI_NAMES; `kpis`: per KPI its
    nominal value, mean, min, P10, P50, P90, max; `plan`: the robust plan's size and the
    share of samples that carry it whole; `official`: whether bulk_rate is the official
    indicator."""

    exchanges: pd.DataFrame
    samples: pd.DataFrame
    kpis: dict[str, dict[str, float | None]]
    plan: dict[str, Any]
    options: RobustOptions
    official: bool
    seconds: float
    engine: str = "serial"
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """robust.json: parameters, KPI distributions, the robust plan, the method."""
        o = self.options
        return {
            "samples": o.samples, "seed": o.seed, "distribution": o.distribution.value,
            "cv": o.cv, "reliability": o.reliability, "vary": o.vary,
            "bulk_rate_official": self.official,
            "kpis": self.kpis,
            "plan": self.plan,
            "exchanges_seen": len(self.exchanges),
            "method": METHOD_NOTE,
            "notes": list(self.notes),
            "engine": self.engine,
            "seconds": self.seconds,
        }


def _listing_cv(frame: pd.DataFrame, default: float) -> np.ndarray:
    """Each listing's cv: its `cv` column where filled, else `default`."""
    if "cv" not in frame:
        return np.full(len(frame), default)
    own = frame["cv"].to_numpy(float)
    return np.where(np.isfinite(own), own, default)


def sample_factors(rng: np.random.Generator, cv: np.ndarray,
                   distribution: Distribution) -> np.ndarray:
    """One factor per listing (mean 1, coefficient of variation `cv`, >= 0); exactly 1
    where cv is 0. Draws one standard variate per listing whatever its cv, so adding a
    listing's cv leaves the others' draws unchanged."""
    cv = np.asarray(cv, float)
    if distribution is Distribution.lognormal:
        sigma = np.sqrt(np.log1p(cv * cv))
        factor = np.exp(-sigma * sigma / 2 + sigma * rng.standard_normal(len(cv)))
    elif distribution is Distribution.normal:
        factor = np.maximum(0.0, 1.0 + cv * rng.standard_normal(len(cv)))
    else:
        factor = np.maximum(0.0, 1.0 + cv * math.sqrt(3.0) * rng.uniform(-1.0, 1.0, len(cv)))
    return np.where(cv > 0, factor, 1.0)


@dataclass(frozen=True)
class _Shared:
    """What every sample task reads (shipped to each worker once)."""

    dataset: Dataset
    cand: Candidates
    options: MatchOptions
    robust: RobustOptions
    offer_cv: np.ndarray
    need_cv: np.ndarray
    mass_offer: np.ndarray
    scope: BulkScope
    grades: Grades | None = None


def _sampled(shared: _Shared, k: int) -> Dataset:
    """The dataset of sample k: quantities drawn, `generated` moved with the surplus."""
    ds, ro = shared.dataset, shared.robust
    rng = np.random.default_rng(np.random.SeedSequence([ro.seed, k]))
    offers, needs = ds.offers.copy(), ds.needs.copy()
    f_offer = sample_factors(rng, shared.offer_cv, ro.distribution)
    f_need = sample_factors(rng, shared.need_cv, ro.distribution)
    if ro.vary in ("offers", "both"):
        q = offers["quantity"].to_numpy(float)
        q_k = q * f_offer
        offers["quantity"] = q_k
        if "generated" in offers:
            used = np.nan_to_num(offers["used_existing"].to_numpy(float), nan=0.0) \
                if "used_existing" in offers else np.zeros(len(offers))
            gen = offers["generated"].to_numpy(float)
            offers["generated"] = np.where(np.isfinite(gen),
                                           np.maximum(used, gen + q_k - q), gen)
    if ro.vary in ("needs", "both"):
        needs["quantity"] = needs["quantity"].to_numpy(float) * f_need
    return dataclasses.replace(ds, offers=offers, needs=needs)


def _kpis(shared: _Shared, dataset: Dataset, flows: np.ndarray) -> dict[str, float | None]:
    cand = shared.cand
    per_offer = np.bincount(cand.offer, weights=flows, minlength=len(dataset.offers))
    bulk = bulk_solid_waste(dataset, per_offer, shared.scope)
    mass = shared.mass_offer
    qty = dataset.offers["quantity"].to_numpy(float)
    drawn = np.clip(per_offer - qty, 0.0, None)
    offered = float(qty[mass].sum() + drawn[mass].sum())
    arc_mass = mass[cand.offer]
    matched = float(flows[arc_mass].sum())
    return {
        "bulk_rate": bulk["utilization_rate"],
        "share_matched": matched / offered if offered > 0 else None,
        "tonnes_matched": matched,
        "tonne_km": float((flows * cand.distance_km)[arc_mass].sum()),
    }


def _live(dataset: Dataset, cand: Candidates, flows: np.ndarray) -> np.ndarray:
    qty_scale = np.maximum(1.0, dataset.offers["quantity"].to_numpy(float)[cand.offer])
    return np.flatnonzero(flows > FLOW_EPS * qty_scale)


def _sample_task(shared: _Shared, k: int
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, float | None]]:
    """Sample k solved (an engine task): live arcs, their flows, the KPIs."""
    ds = _sampled(shared, k)
    flows, _ = solve_candidates(ds, shared.cand, shared.options, None, shared.grades)
    live = _live(ds, shared.cand, flows)
    return live.astype(np.int64), flows[live], _kpis(shared, ds, flows)


def _batch_task(shared: _Shared, ks: list[int]
                ) -> list[tuple[np.ndarray, np.ndarray, dict[str, float | None]]]:
    """Several samples as one engine task: a sample of a park solves in milliseconds, less
    than a Dask task's round trip."""
    return [_sample_task(shared, k) for k in ks]


def _firm(values: np.ndarray, reliability: float) -> np.ndarray:
    """Per row of `values` (arcs x samples): the largest x carried in >= reliability of the
    samples (the ceil(p S)-th largest)."""
    s = values.shape[1]
    rank = min(s, max(1, math.ceil(reliability * s - 1e-9)))
    return np.sort(values, axis=1)[:, s - rank]


def _distribution(values: Sequence[float | None], nominal: float | None
                  ) -> dict[str, float | None]:
    arr = np.array([v for v in values if v is not None], float)
    if not len(arr):
        return {"nominal": nominal, "mean": None, "min": None, "p10": None, "p50": None,
                "p90": None, "max": None}
    p10, p50, p90 = (float(x) for x in np.quantile(arr, [0.1, 0.5, 0.9]))
    return {"nominal": nominal, "mean": float(arr.mean()), "min": float(arr.min()),
            "p10": p10, "p50": p50, "p90": p90, "max": float(arr.max())}


def _carried(dataset: Dataset, cand: Candidates, arcs: np.ndarray, contracted: np.ndarray,
             shared: _Shared, samples: int) -> float | None:
    """Share of samples whose volumes carry every contracted quantity at once."""
    if not len(arcs):
        return None
    n_off, n_need = len(dataset.offers), len(dataset.needs)
    supply = np.bincount(cand.offer[arcs], weights=contracted, minlength=n_off)
    demand = np.bincount(cand.need[arcs], weights=contracted * cand.ratio[arcs],
                         minlength=n_need)
    ok = 0
    for k in range(samples):
        ds = _sampled(shared, k)
        q_o = ds.offers["quantity"].to_numpy(float)
        if "stock" in ds.offers:
            q_o = q_o + np.nan_to_num(ds.offers["stock"].to_numpy(float), nan=0.0)
        d_n = ds.needs["quantity"].to_numpy(float)
        tol_o, tol_n = FLOW_EPS * np.maximum(1.0, q_o), FLOW_EPS * np.maximum(1.0, d_n)
        ok += bool(np.all(supply <= q_o + tol_o) and np.all(demand <= d_n + tol_n))
    return ok / samples


def robust_plan(dataset: Dataset, options: MatchOptions | None = None,
                robust: RobustOptions | None = None,
                engine: Engine | None = None,
                samples_per_task: int | None = None) -> RobustResult:
    """Sample, solve every sample (as tasks of `engine`, default here one after another),
    and summarise (see the module docstring). The same seed gives the same result whatever
    the engine and however the samples are batched: sample k draws from its own seed
    (`SeedSequence([seed, k])`), so which task solves it does not matter.

    With an engine the samples go out in batches of `samples_per_task` (default: about
    `SAMPLE_TASKS` tasks in all): a sample of a 300-enterprise park solves in ~25 ms, less
    than a Dask task's round trip, so one task per sample would time the scheduler.

    Raises:
        OptionsError: a listing `cv` below 0, or `samples_per_task` below 1.
        SolverError: a sample that does not solve (as `solve_match` would raise it).
    """
    if samples_per_task is not None and samples_per_task < 1:
        raise OptionsError("samples_per_task", "must be at least 1")
    start = time.perf_counter()
    options = (options or MatchOptions()).model_copy(update={"valuate": False})
    robust = robust or RobustOptions()
    # blending needs and heat cascades graded as `solve_match` grades them (the cascade's
    # return offers, added here, are sampled as offers)
    dataset, cand, grades = prepare_grades(dataset, candidates_for(dataset, options), options)
    offer_cv = _listing_cv(dataset.offers, robust.cv)
    need_cv = _listing_cv(dataset.needs, robust.cv)
    if (offer_cv < 0).any() or (need_cv < 0).any():
        raise OptionsError("cv", "a listing's cv must be >= 0")
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    mass_offer = (dataset.offers["material"].map(fam) == "mass").to_numpy(dtype=bool)
    shared = _Shared(dataset, cand, options, robust, offer_cv, need_cv, mass_offer,
                     load_bulk_scope(), grades)
    nominal_flows, _ = solve_candidates(dataset, cand, options, None, grades)
    nominal = _kpis(shared, dataset, nominal_flows)
    official = bool(bulk_solid_waste(dataset, np.bincount(
        cand.offer, weights=nominal_flows, minlength=len(dataset.offers)),
        shared.scope)["official"])
    ks = list(range(robust.samples))
    if engine is not None:  # about SAMPLE_TASKS tasks, in order (a sample's seed is its own)
        size = samples_per_task if samples_per_task is not None \
            else max(1, math.ceil(len(ks) / SAMPLE_TASKS))
        batches = [ks[i:i + size] for i in range(0, len(ks), size)]
        solved = [s for batch in engine.map(_batch_task, batches, shared) for s in batch]
    else:
        solved = [_sample_task(shared, k) for k in ks]
    seen = np.unique(np.concatenate([live for live, _, _ in solved] +
                                    [_live(dataset, cand, nominal_flows)]))
    position = {int(a): i for i, a in enumerate(seen)}
    matrix = np.zeros((len(seen), robust.samples))
    for k, (live, flows, _) in enumerate(solved):
        matrix[[position[int(a)] for a in live], k] = flows
    firm = _firm(matrix, robust.reliability) if len(seen) else np.zeros(0)
    q10, q50, q90 = (np.quantile(matrix, [0.1, 0.5, 0.9], axis=1) if len(seen)
                     else np.zeros((3, 0)))
    offers, needs = dataset.offers, dataset.needs
    o, n = cand.offer[seen], cand.need[seen]
    units = np.array([dataset.taxonomy.materials[str(m)].unit
                      for m in offers["material"].to_numpy(dtype=object)[o]], dtype=object)
    plan_q = nominal_flows[seen]
    nominal_live = plan_q > FLOW_EPS * np.maximum(1.0, offers["quantity"].to_numpy(float)[o])
    table = pd.DataFrame({
        "offer_id": offers.index.to_numpy(dtype=object)[o],
        "need_id": needs.index.to_numpy(dtype=object)[n],
        "offer_enterprise_id": offers["enterprise_id"].to_numpy(dtype=object)[o],
        "need_enterprise_id": needs["enterprise_id"].to_numpy(dtype=object)[n],
        "offer_material": offers["material"].to_numpy(dtype=object)[o],
        "need_material": needs["material"].to_numpy(dtype=object)[n],
        "distance_km": cand.distance_km[seen],
        "unit": units,
        "plan_quantity": np.where(nominal_live, plan_q, 0.0),
        "used_share": (matrix > 0).mean(axis=1) if len(seen) else np.zeros(0),
        "mean": matrix.mean(axis=1) if len(seen) else np.zeros(0),
        "p10": q10, "p50": q50, "p90": q90,
        "firm_quantity": firm,
        "robust": firm > 0,
    }, columns=ROBUST_COLUMNS)
    order = np.lexsort((table["need_id"].to_numpy(dtype=str),
                        table["offer_id"].to_numpy(dtype=str),
                        -table["firm_quantity"].to_numpy(float),
                        -table["used_share"].to_numpy(float),
                        ~table["robust"].to_numpy(bool)))
    table = table.iloc[order].reset_index(drop=True)
    kpis = {name: _distribution([kp[name] for _, _, kp in solved], nominal[name])
            for name in KPI_NAMES}
    robust_arcs = seen[firm > 0]
    contracted = firm[firm > 0]
    mass_arc = mass_offer[cand.offer[robust_arcs]]
    plan = {
        "exchanges": len(robust_arcs),
        "tonnes_contracted": float(contracted[mass_arc].sum()),
        "tonne_km": float((contracted * cand.distance_km[robust_arcs])[mass_arc].sum()),
        "plain_plan_exchanges": int(nominal_live.sum()),
        "plain_plan_exchanges_robust": int((nominal_live & (firm > 0)).sum()),
        "samples_carrying_whole_plan": _carried(dataset, cand, robust_arcs, contracted,
                                                shared, robust.samples),
    }
    sample_rows = pd.DataFrame([{"sample": k, **kp} for k, (_, _, kp) in enumerate(solved)],
                               columns=["sample", *KPI_NAMES])
    notes = [] if official else [
        "bulk_rate covers the listed surplus only: the dataset gives no generated or "
        "used_existing values, so it is NOT the official 大宗工业固废综合利用率"]
    return RobustResult(table, sample_rows, kpis, plan, robust, official,
                        time.perf_counter() - start,
                        engine.name if engine is not None else "serial", tuple(notes))
