"""The web page's words: served from the one message catalogue (GET /api/i18n, no key
needed), equal to the Python catalogue, and every label the page asks for exists in it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from api_support import LiveServer

from symbiosis.i18n import LANGS, catalogue

WEB = Path(__file__).resolve().parents[2] / "api" / "web"


def test_served_catalogue_equals_the_python_one(live_api: LiveServer) -> None:
    served = httpx.get(f"{live_api.url}/api/i18n")  # no key: the page needs it first
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == catalogue()
    for lang in LANGS:
        flat = httpx.get(f"{live_api.url}/api/i18n", params={"lang": lang}).json()
        assert flat == {key: texts[lang] for key, texts in catalogue().items()}
    assert httpx.get(f"{live_api.url}/api/i18n", params={"lang": "fr"}).status_code == 422


def _resolves(key: str) -> bool:
    """app.js's rule: web.<key> first, then the key itself."""
    return f"web.{key}" in catalogue() or key in catalogue()


def test_every_label_the_page_asks_for_is_in_the_catalogue() -> None:
    page = (WEB / "index.html").read_text(encoding="utf-8")
    script = (WEB / "app.js").read_text(encoding="utf-8")
    html_keys = set(re.findall(r'data-i18n(?:-placeholder)?="([^"]+)"', page))
    units = set(re.findall(r'data-i18n-unit="([^"]+)"', page))
    js_keys = set(re.findall(r'\bt\("([^"]+)"', script))
    assert {"run_match", "kpi.utilization_rate", "report.col_enterprise"} <= html_keys | js_keys
    missing = sorted(k for k in html_keys | js_keys if not _resolves(k))
    missing += sorted(f"unit.{u}" for u in units if f"unit.{u}" not in catalogue())
    assert missing == []
    # keys built at run time: roles, statuses, objectives, figures of the scenario table
    for key in ("role_admin", "role_park_manager", "role_supplier", "st_queued", "st_running",
                "obj.utilization", "obj.cost", "obj.co2", "axis.utilization_rate",
                "axis.tonnes_matched", "axis.tonne_km", "axis.co2_net_t", "axis.saving_cny",
                "axis.exchanges", "appeared", "vanished", "changed", "offer", "need"):
        assert _resolves(key), key
    # the page keeps no label table of its own
    assert "I18N" not in script and "SECTORS" not in script


def test_one_label_per_concept_across_report_and_page() -> None:
    """The page's tiles use the report's keys, so the two cannot disagree again
    (运输周转量, not 运输量; 净节约, not 节约成本)."""
    page = (WEB / "index.html").read_text(encoding="utf-8")
    for key in ("kpi.utilization_rate", "kpi.tonne_km", "kpi.co2_net_t", "kpi.saving_cny"):
        assert f'data-i18n="{key}"' in page
    words = catalogue()
    assert words["kpi.tonne_km"]["zh"] == "运输周转量"
    assert words["kpi.saving_cny"]["zh"] == "净节约"
    # not the official indicator's name: the official rate is `fig.official_rate`
    assert words["kpi.utilization_rate"]["zh"] == "固体匹配量÷挂牌量（全部挂牌，含矿渣粉）"
    assert words["fig.official_rate"]["zh"].startswith("大宗工业固废综合利用率")
    web_texts = {texts["zh"] for key, texts in words.items() if key.startswith("web.")}
    assert not {"运输量", "节约成本"} & web_texts
