"""What a park manager may read of a park run: the park's own slice, its counterparties by
name, and of everything else only aggregates.

A park run (`POST /api/runs` with `park`) solves the whole region, because a park is not an
island (`matching.park_scope`); what the job stores is `park_result`'s view of that plan:
the exchanges touching the park (outside enterprise and listing ids blanked), the park's
own offers, needs and enterprises. That still left three ways to read other parks'
enterprises: the offers' unmatched explanations ("... ND-LD-CEM1-cement_admixture (served
by LD-STL1, LY-PWR1) ..." names takers and suppliers of other parks), the region summary's
per-park table and per-store rows, and free-text warnings. The rule, applied to every
route that reads a park run for a park-scoped key (`Role.park_manager`):

- the park's own enterprises, offers, needs, exchanges, stores: in full;
- the counterparties of the park's own exchanges (the outside supplier of an inbound
  exchange, the outside taker of an outbound one): by name, as the exchange rows give
  them, and by id where a text names them (they are party to an exchange the park must
  negotiate, so their name is no secret to its manager);
- every other enterprise: never by id, listing id or name. Where a text would name one it
  reads an anonymised label instead (`anonymity.outside_label`): a number within the
  response and, only where `K_ANONYMITY` suppliers share it, the GB/T 4754 division;
- other parks: nothing of one park on its own (the summary's `parks.parks` keeps only this
  park's row); the region's totals (tonnes offered and matched, per material, per month,
  solver facts) stay, as aggregates of every park;
- the monthly stores (`summary.monthly.storage`, the `monthly.storage` levels) and the
  monthly exchanges: the park's own only.

- a run's status (`GET /api/runs`, `/api/runs/{id}`, the answer to POST and cancel): its
  `error` and `phase` texts with the same labels (a failed run's error comes from the
  region's rows), no counterparty named (`park_job`).

Admins read runs as stored. The view is applied when a run is read, so runs stored before
this rule are covered too; it takes the enterprises, offers and needs of the current
snapshot to know which ids and names to hide. Limits: an enterprise deleted from the store
since the run is no longer known, so a text of an old run could still name it; an id that
is also an ordinary token of a text (a bare number) is replaced there too (over-hiding,
never a leak).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from symbiosis.api.server.anonymity import Describer, outside_label
from symbiosis.api.server.region import Snapshot, blank

__all__ = ["PartyView", "park_job", "park_view"]

# an id-like token: ASCII letters, digits, `_`, with `-` and `.` inside; such an id is
# replaced only as a whole token, looked up in a dict (no alternation of thousands of ids);
# any other id (Chinese characters ...) is replaced wherever it occurs, like a name
_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class PartyView:
    """Which enterprises of the region a park run may name, and the replacement of the
    others in text. `inside`: the park's enterprise ids; `counterparties`: outside ids
    party to the park's exchanges."""

    def __init__(self, snap: Snapshot, inside: set[str], counterparties: set[str]) -> None:
        self.visible = inside | counterparties
        self._describer = Describer(snap)
        owner: dict[str, str] = {}
        names: dict[str, str] = {}
        for eid, ent in snap.enterprises.items():
            if eid in self.visible:
                continue
            owner[eid] = eid
            name = str(ent.get("name") or "").strip()
            if len(name) >= 2:
                names[name] = eid
        for table in (snap.offers, snap.needs):
            for lid, row in table.items():
                ent_id = str(row.get("enterprise_id") or "")
                if ent_id and ent_id not in self.visible:
                    owner[lid] = ent_id
        self._owner = {k: v for k, v in owner.items() if _TOKEN.fullmatch(k)}
        for k, v in owner.items():
            if k not in self._owner:
                names[k] = v
        # longest first, so a name that contains another is replaced whole
        self._names = sorted(names.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._labels: dict[str, str] = {}
        self._done: dict[str, str] = {}

    def label(self, enterprise_id: str) -> str:
        """The anonymised label of a hidden enterprise, numbered by first use."""
        if enterprise_id not in self._labels:
            division = self._describer.describe(enterprise_id)["sector_division"]
            self._labels[enterprise_id] = outside_label(len(self._labels) + 1, division)
        return self._labels[enterprise_id]

    def text(self, value: str) -> str:
        """`value` with every hidden enterprise id, listing id and name replaced by the
        label of its enterprise. Ids are replaced as whole tokens (letters, digits, `_`,
        `-`, `.` inside), names wherever they occur; results are memoised per string (a
        body repeats its material names and sources many times)."""
        done = self._done.get(value)
        if done is not None:
            return done
        out = value
        for name, eid in self._names:
            if name in out:
                out = out.replace(name, self.label(eid))
        if self._owner:
            out = _TOKEN.sub(self._swap, out)
        self._done[value] = out
        return out

    def _swap(self, m: re.Match[str]) -> str:
        token = m.group(0)
        for candidate in (token, token.rstrip(".")):
            owner = self._owner.get(candidate)
            if owner is not None:
                return self.label(owner) + token[len(candidate):]
        return token

    def scrub(self, value: Any) -> Any:
        """A JSON value with `text` applied to every string (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.scrub(v)
                    for k, v in value.items()}
        return value


def _counterparties(snap: Snapshot, exchanges: Iterable[Mapping[str, Any]],
                    inside: set[str]) -> set[str]:
    """Outside enterprises at the other end of the park's exchanges: by id where the row
    keeps it, else by the name the row shows (park_result blanks the outside id)."""
    by_name: dict[str, set[str]] = {}
    for eid, ent in snap.enterprises.items():
        by_name.setdefault(str(ent.get("name") or "").strip(), set()).add(eid)
    found: set[str] = set()
    for x in exchanges:
        src, dst = str(x.get("offer_enterprise_id") or ""), str(x.get("need_enterprise_id") or "")
        if src not in inside and dst not in inside and (src or dst):
            continue  # not the park's exchange (a body stored before park_result)
        for side in ("offer", "need"):
            eid = str(x.get(f"{side}_enterprise_id") or "")
            if eid and eid not in inside:
                found.add(eid)
            elif not eid:
                name = str(x.get(f"{side}_enterprise_name") or "").strip()
                found |= by_name.get(name, set()) if name else set()
    return found - inside


def _touches(row: Mapping[str, Any], inside: set[str]) -> bool:
    return (str(row.get("offer_enterprise_id") or "") in inside
            or str(row.get("need_enterprise_id") or "") in inside)


def park_view(body: dict[str, Any], park: str, snap: Snapshot) -> dict[str, Any]:
    """The stored body of a run of `park` (`GET /api/runs/{id}/result`'s shape) as the
    park's manager may read it (the rule in this module's docstring). Returns a new dict;
    `body` is not changed."""
    park = park.strip()
    inside = {eid for eid, ent in snap.enterprises.items()
              if str(blank(ent.get("park")) or "").strip() == park}
    inside |= {str(e.get("id")) for e in body.get("enterprises") or []
               if str(e.get("park") or "").strip() == park}
    exchanges = [x for x in body.get("exchanges") or [] if _touches(x, inside)
                 or x.get("park_scope") in ("intra_park", "outbound", "inbound")]
    view = PartyView(snap, inside, _counterparties(snap, exchanges, inside))
    out = dict(body)
    out["exchanges"] = exchanges
    out["enterprises"] = [e for e in body.get("enterprises") or []
                          if str(e.get("id")) in inside]
    for table in ("offers", "needs"):
        out[table] = [r for r in body.get(table) or []
                      if str(r.get("enterprise_id")) in inside]
    summary = dict(body.get("summary") or {})
    parks = summary.get("parks")
    if isinstance(parks, dict) and isinstance(parks.get("parks"), dict):
        summary["parks"] = {**parks, "parks": {k: v for k, v in parks["parks"].items()
                                               if str(k).strip() == park}}
    monthly = summary.get("monthly")
    if isinstance(monthly, dict):
        summary["monthly"] = {**monthly, "storage": [
            s for s in monthly.get("storage") or [] if str(s.get("enterprise_id")) in inside]}
    out["summary"] = summary
    tables = body.get("monthly")
    if isinstance(tables, dict):
        out["monthly"] = {
            **tables,
            "exchanges": [x for x in tables.get("exchanges") or [] if _touches(x, inside)],
            "storage": [s for s in tables.get("storage") or []
                        if str(s.get("enterprise_id")) in inside]}
    scrubbed: dict[str, Any] = view.scrub(out)
    return scrubbed


def park_job(job: dict[str, Any], park: str, snap: Snapshot) -> dict[str, Any]:
    """A run's status (`job_public`) as the manager of `park` may read it: its texts (a
    failed run's error names the region's rows, e.g. a validation problem of another park's
    offer; the phase) with every enterprise outside the park replaced by a label. No
    counterparties here: a status names no exchange."""
    park = park.strip()
    inside = {eid for eid, ent in snap.enterprises.items()
              if str(blank(ent.get("park")) or "").strip() == park}
    view = PartyView(snap, inside, set())
    return {k: view.text(v) if isinstance(v, str) and k in ("error", "phase") else v
            for k, v in job.items()}
