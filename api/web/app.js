/* symbiosis web page: plain JavaScript, no framework, no build step.
 *
 * Talks only to this server's /api (Bearer key from the URL fragment or the key box) and
 * draws with the plotly.js the server ships at static/plotly.min.js. The map uses plain
 * `scatter` traces on lon/lat axes (scattergeo/scattermap would fetch topojson or tiles).
 */
"use strict";

(() => {
  // ---------------------------------------------------------------- words
  // Every label comes from the server's message catalogue (GET api/i18n, the same
  // symbiosis.i18n the reports use: {key: {en, zh}}), loaded before the page is drawn.
  // The page's own words are web.<key>; figures, units and columns it shares with the
  // report use their catalogue keys (kpi.*, axis.*, unit.*, report.*), one label per concept.
  let CATALOGUE = {};

  // material colours: the same table and hash fallback as geo/export.py material_colour
  const COLOURS = {
    fly_ash: "#6b6b6b", bottom_ash: "#8c564b", bf_slag: "#1f77b4",
    steel_slag: "#17becf", fgd_gypsum: "#e377c2", phosphogypsum: "#bcbd22",
    red_mud: "#d62728", coal_gangue: "#2f2f2f", tailings: "#9467bd",
    smelting_slag: "#ff7f0e", waste_heat: "#ff0000", reclaimed_water: "#2ca02c",
  };
  const SPARE = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#636363"];
  // enterprise roles: colour as geo/export.py, plus a marker shape so colour is not the only cue
  const ROLES = {
    supplier: { colour: "#d62728", symbol: "triangle-up" },
    user: { colour: "#1f77b4", symbol: "square" },
    both: { colour: "#9467bd", symbol: "diamond" },
    unmatched: { colour: "#aaaaaa", symbol: "circle-open" },
  };
  const UNIT_FAMILY = { t: "mass", GJ: "energy", m3: "water" };
  const KEY_STORE = "symbiosis.key";
  const POLL_MS = 400;

  const state = {
    lang: "en", key: null, me: null, materials: new Map(), parks: [], park: null,
    run: null, result: null, enterprises: [], listings: [], changes: [], gaps: null,
    sectorNames: new Map(), compare: null, error: null, status: ["", ""],
    basemap: null, demo: false, demoReason: "", monthly: null,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers
  function lookup(key) {
    const texts = Object.hasOwn(CATALOGUE, key) ? CATALOGUE[key] : null;
    return texts ? (texts[state.lang] || texts.en) : undefined;
  }

  /** The label `key` (web.<key> first, then the key itself) with {vars} filled in. */
  function t(key, vars) {
    let text = lookup(`web.${key}`) ?? lookup(key) ?? key;
    if (vars) {
      for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
    }
    return text;
  }

  function known(key) { return lookup(`web.${key}`) !== undefined || lookup(key) !== undefined; }

  /** A label with its unit: "Average haul (km)", "平均运距（公里）". */
  function withUnit(key, unit) {
    return t("report.with_unit", { label: t(key), unit: t(`unit.${unit}`) });
  }

  /** A per-year unit for a material unit: t -> t/yr (吨/年); unknown units get "/yr". */
  function perYear(unit) {
    const u = unit || "";
    return known(`unit.${u}/yr`) ? t(`unit.${u}/yr`) : `${u}${t("per_year")}`;
  }

  /** Fill every [data-i18n] / [data-i18n-placeholder] under `root` from the catalogue
   * (a key the catalogue lacks keeps the text the HTML has). */
  function translateTree(root) {
    for (const node of root.querySelectorAll("[data-i18n]")) {
      const key = node.dataset.i18n;
      if (!known(key)) continue;
      node.textContent = node.dataset.i18nUnit ? withUnit(key, node.dataset.i18nUnit) : t(key);
    }
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
      if (known(node.dataset.i18nPlaceholder)) node.placeholder = t(node.dataset.i18nPlaceholder);
    }
  }

  async function loadCatalogue() {
    const resp = await fetch("api/i18n", { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      throw new ApiError(resp.status, { code: "catalogue", message: `HTTP ${resp.status}` },
        resp.headers.get("X-Request-ID"));
    }
    CATALOGUE = await resp.json();
  }

  function locale() { return state.lang === "zh" ? "zh-CN" : "en"; }

  function fmtNumber(value, digits = 0) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
  }

  // Amounts as the report writes them (api/report/numbers.py, fmt_amount): three
  // significant figures in the reader's units, 万/亿 in Chinese, million/billion in English.
  const AMOUNT_SCALES = { zh: [[1e8, "亿"], [1e4, "万"]], en: [[1e9, " billion"], [1e6, " million"]] };

  function plainSignificant(value, sig) {
    const rounded = Number(value.toPrecision(sig));
    const magnitude = rounded === 0 ? 0 : Math.floor(Math.log10(Math.abs(rounded)));
    const digits = Math.max(0, sig - 1 - magnitude);
    let text = rounded.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text === "-0" ? "0" : text;
  }

  function formatAmount(value, lang = state.lang, sig = 3) {
    if (value === null || value === undefined || value === "" || !Number.isFinite(Number(value))) return "—";
    const number = Number(value);
    if (number === 0) return "0";
    const rounded = Number(number.toPrecision(sig));
    for (const [threshold, suffix] of AMOUNT_SCALES[lang] || AMOUNT_SCALES.en) {
      if (Math.abs(rounded) >= threshold) return plainSignificant(rounded / threshold, sig) + suffix;
    }
    return plainSignificant(rounded, sig);
  }
  window.symbiosisFormatAmount = formatAmount;  // for the browser test that compares it with Python

  function fmtPercent(value, digits = 1) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
    return new Intl.NumberFormat(locale(), {
      style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  }

  function fmtTime(text) {
    if (!text) return "—";
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) return String(text);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(d);
  }

  function esc(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  /** Create an element: el("td", {class: "num"}, "12"). Children are nodes or text. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function crc32(text) {
    let crc = -1;
    for (const byte of new TextEncoder().encode(text)) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return (crc ^ -1) >>> 0;
  }

  function materialColour(slug) { return COLOURS[slug] || SPARE[crc32(slug) % SPARE.length]; }

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
  }

  function materialName(slug) {
    const m = state.materials.get(slug);
    if (!m) return slug;
    return (state.lang === "zh" ? m.name_zh : m.name_en) || m.name_en || slug;
  }

  function materialUnit(slug, fallback) {
    const m = state.materials.get(slug);
    return (m && m.unit) || fallback || "";
  }

  function materialFamily(slug, unit) {
    const m = state.materials.get(slug);
    return (m && m.family) || UNIT_FAMILY[unit] || "mass";
  }

  function sectorLabel(code) {
    if (!code) return "—";
    const fromApi = state.sectorNames.get(code);
    const name = known(`sector.${code}`) ? t(`sector.${code}`)
      : fromApi ? fromApi[state.lang === "zh" ? "name_zh" : "name_en"] : "";
    return name ? `${code} ${name}` : String(code);
  }

  function listOf(body) {
    if (Array.isArray(body)) return body;
    return (body && Array.isArray(body.data)) ? body.data : [];
  }

  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

  // ---------------------------------------------------------------- API and messages
  class ApiError extends Error {
    constructor(status, body, requestId) {
      super(body.message || `HTTP ${status}`);
      this.status = status;
      this.code = body.code || `http_${status}`;
      this.requestId = body.request_id || requestId || "";
      this.problems = Array.isArray(body.problems) ? body.problems : [];
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    const form = body instanceof FormData;
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method, headers, body: body === undefined || form ? body : JSON.stringify(body),
    });
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!resp.ok) {
      const err = (data && data.error) || { message: text.slice(0, 300) };
      throw new ApiError(resp.status, err, resp.headers.get("X-Request-ID"));
    }
    return data;
  }

  /** Every page of a list route (limit/offset), as one array. */
  async function apiAll(path, params = {}) {
    const rows = [];
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const query = new URLSearchParams({ ...params, limit, offset });
      const body = await api(`${path}?${query}`);
      const page = listOf(body);
      rows.push(...page);
      const count = body && typeof body.count === "number" ? body.count : rows.length;
      if (page.length < limit || rows.length >= count) return rows;
    }
  }

  function setStatus(key, extra = "") {
    state.status = [key, extra];
    renderStatus();
  }

  function renderStatus() {
    const [key, extra] = state.status;
    $("status").textContent = key ? `${t(key)}${extra ? ` ${extra}` : ""}` : "";
  }

  function showError(err) {
    state.error = err;
    renderError();
  }

  function clearError() {
    state.error = null;
    renderError();
  }

  function renderError() {
    const box = $("error");
    box.replaceChildren();
    const err = state.error;
    if (!err) { box.hidden = true; return; }
    box.hidden = false;
    const code = err.code || "error";
    box.append(el("strong", {}, code), ": ", err.message || String(err));
    if (err.requestId) box.append(` (${t("request_id")} ${err.requestId})`);
    if (err.problems && err.problems.length) {
      // errors and warnings counted apart, errors first, each line marked with its kind
      const isWarning = (p) => p.severity === "warning";
      const errors = err.problems.filter((p) => !isWarning(p));
      const warnings = err.problems.filter(isWarning);
      box.append(el("p", { id: "problem-counts" }, t("problem_counts", {
        errors: fmtNumber(errors.length), warnings: fmtNumber(warnings.length) })));
      box.append(el("ul", {}, [...errors, ...warnings].map((p) => el("li", {
        class: isWarning(p) ? "problem-warning" : "problem-error",
        "data-severity": isWarning(p) ? "warning" : "error",
      }, `${isWarning(p) ? t("warning_word") : t("error_word")} `
        + [p.file, p.row, p.column].filter((x) => x !== null && x !== undefined && x !== "")
          .join(":") + (p.message ? `: ${p.message}` : "")))));
    }
  }

  /** Run an action, showing its API error (if any) in the message area. */
  async function guarded(action) {
    clearError();
    try {
      await action();
    } catch (err) {
      setStatus("");
      showError(err instanceof ApiError ? err : { code: "error", message: String(err.message || err) });
    }
  }

  // ---------------------------------------------------------------- language
  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = `symbiosis — ${t("title")}`;
    translateTree(document);
    const toggle = $("lang-toggle");
    toggle.textContent = state.lang === "zh" ? "English" : "中文";
    toggle.lang = state.lang === "zh" ? "en" : "zh-CN";
    toggle.setAttribute("aria-label", `${t("lang_switch")}: ${toggle.textContent}`);
    renderMe();
    renderParks();
    renderAll();
  }

  function renderAll() {
    renderDemo();
    renderTiles();
    renderRunInfo();
    renderMap();
    renderSankey();
    renderExchangeTable();
    renderMonthly();
    renderScenarioInputs();
    renderChanges();
    renderCompare();
    renderGaps();
    renderError();
    renderStatus();
  }

  function initialLanguage() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked === "zh" || asked === "en") return asked;
    const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
    return browser.toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  // ---------------------------------------------------------------- key and identity
  function takeKeyFromFragment() {
    const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(KEY_STORE, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY_STORE);
  }

  function renderMe() {
    const me = state.me;
    $("me").textContent = me
      ? `${t("role")}: ${t(`role_${me.role}`)} · ${t("scope")}: ${me.scope}${me.label ? ` · ${me.label}` : ""}`
      : "";
  }

  async function connect() {
    setStatus("st_loading");
    state.demo = false;
    state.me = null;
    renderMe();
    state.me = await api("api/me");
    renderMe();
    const mats = await api("api/materials");
    state.materials = new Map(listOf(mats).map((m) => [m.slug, m]));
    if (state.me.role !== "admin" && state.me.role !== "park_manager") {
      setStatus("not_for_role");
      return;
    }
    $("upload-form").hidden = state.me.role !== "admin";
    state.parks = listOf(await api("api/parks"));
    if (state.me.role === "admin") state.park = "";
    else state.park = state.parks.length ? state.parks[0].name : state.me.scope;
    renderParks();
    await selectPark(state.park);
  }

  function renderParks() {
    const select = $("park-select");
    const chosen = state.park;
    select.replaceChildren();
    if (state.me && state.me.role === "admin") {
      select.append(el("option", { value: "" }, t("whole_region")));
    }
    for (const p of state.parks) select.append(el("option", { value: p.name }, p.name));
    if (chosen !== null) select.value = chosen;
  }

  // ---------------------------------------------------------------- park, runs, results
  function parkParams() { return state.park ? { park: state.park } : {}; }

  async function selectPark(park) {
    state.park = park;
    state.gaps = null;
    state.compare = null;
    state.changes = [];
    setStatus("st_loading");
    const [enterprises, offers, needs] = await Promise.all([
      apiAll("api/enterprises", parkParams()),
      apiAll("api/offers", parkParams()),
      apiAll("api/needs", parkParams()),
    ]);
    state.enterprises = enterprises;
    state.listings = [
      ...offers.map((o) => ({ ...o, listing: "offer" })),
      ...needs.map((n) => ({ ...n, listing: "need" })),
    ];
    await loadLatestRun();
    state.demo = false;
    if (!state.run && !state.enterprises.length) await loadDemo("demo_banner");
    renderAll();
    setStatus("st_ready");
  }

  // ---------------------------------------------------------------- demo fallback
  /** Nothing stored to show (no key yet, or no enterprise in this selection): the bundled
   * demo's result (GET api/demo, no key needed), under a banner that says it is demo data. */
  async function loadDemo(reason) {
    const resp = await fetch("api/demo", { headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    state.result = await resp.json();
    state.run = null;
    state.monthly = null;
    state.enterprises = state.result.enterprises || [];
    state.listings = [];
    state.demo = true;
    state.demoReason = reason;
  }

  function renderDemo() {
    $("demo-banner").hidden = !state.demo;
    $("demo-text").textContent = state.demo ? t(state.demoReason) : "";
    document.body.classList.toggle("demo", state.demo);
  }

  async function loadLatestRun() {
    const query = new URLSearchParams({ ...parkParams(), status: "succeeded", limit: 1000 });
    const runs = listOf(await api(`api/runs?${query}`))
      .filter((r) => r.status === "succeeded" && (r.park || "") === (state.park || ""))
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    state.run = runs.length ? runs[0] : null;
    state.result = state.run ? await api(`api/runs/${encodeURIComponent(state.run.id)}/result`) : null;
    await loadMonthly();
  }

  /** A monthly run's figures (GET api/runs/{id}/monthly: per month, and each store's
   * levels); null for an annual run, the demo, or no run. */
  async function loadMonthly() {
    const summary = state.result && state.result.summary;
    state.monthly = state.run && summary && summary.monthly
      ? await api(`api/runs/${encodeURIComponent(state.run.id)}/monthly`) : null;
  }

  async function runMatch() {
    const button = $("run-button");
    button.disabled = true;
    try {
      setStatus("st_submitting");
      const body = { objective: $("objective-select").value };
      if (state.park) body.park = state.park;
      const km = $("max-km").value.trim();
      if (km !== "") body.max_km = Number(km);
      let run = await api("api/runs?wait=10", { method: "POST", body });
      while (run.status === "queued" || run.status === "running") {
        const pct = typeof run.progress === "number" ? ` ${fmtPercent(run.progress, 0)}` : "";
        setStatus(`st_${run.status}`, `${run.phase || ""}${pct}`.trim());
        await sleep(POLL_MS);
        run = await api(`api/runs/${encodeURIComponent(run.id)}`);
      }
      if (run.status !== "succeeded") {
        setStatus("st_failed");
        throw new ApiError(500, { code: "run_failed", message: `${t("run_failed")}: ${run.error || run.status}` });
      }
      state.run = run;
      state.result = await api(`api/runs/${encodeURIComponent(run.id)}/result`);
      await loadMonthly();
      state.demo = false;
      state.gaps = null;
      renderAll();
      setStatus("st_succeeded");
    } finally {
      button.disabled = false;
    }
  }

  function renderRunInfo() {
    const run = state.run;
    if (state.demo) { $("run-info").textContent = t("demo_badge"); return; }
    $("run-info").textContent = run ? t("run_info", {
      id: run.id,
      objective: t(`obj.${(run.parameters && run.parameters.objective) || "utilization"}`),
      time: fmtTime(run.finished_at || run.created_at),
      n: fmtNumber(kpis() && kpis().exchanges),
    }) : t("no_run");
  }

  // ---------------------------------------------------------------- KPI tiles
  function kpis() {
    return (state.result && state.result.kpis) || (state.run && state.run.kpis) || null;
  }

  function renderTiles() {
    const k = kpis();
    const tile = $("tile-utilization");
    // the bulk solid waste rate (issue 12): official when the data give a baseline, else the
    // share of listed surplus, which claims no target; older runs: utilization_rate
    const official = k ? k.bulk_official : undefined;
    const rate = k ? (typeof k.bulk_rate === "number" ? k.bulk_rate : k.utilization_rate) : null;
    const target = k && typeof k.utilization_target === "number" ? k.utilization_target : 0.57;
    const title = tile.querySelector("h3");
    title.dataset.i18n = official === true ? "fig.official_rate"
      : official === false ? "fig.listed_rate" : "kpi.utilization_rate";
    title.textContent = t(title.dataset.i18n);
    $("kpi-utilization").textContent = fmtPercent(rate);
    $("kpi-utilization").dataset.value = rate ?? "";
    const sub = $("kpi-utilization-target");
    sub.replaceChildren(official === false ? t("fig.tile_no_target")
      : `${t("kpi.target")} ${fmtPercent(target, 0)}`);
    if (official === true && typeof k.bulk_baseline_rate === "number") {
      sub.append(" · ", t("fig.tile_baseline", { rate: fmtPercent(k.bulk_baseline_rate) }));
    }
    if (k && k.solver_exact === false) sub.append(" · ", t("fig.tile_inexact"));
    tile.classList.remove("meets", "below");
    if (typeof rate === "number" && official !== false) {
      const meets = typeof k.bulk_target_met === "boolean" ? k.bulk_target_met : rate >= target;
      tile.classList.add(meets ? "meets" : "below");
      sub.append(" · ", el("span", { class: meets ? "verdict-meets" : "verdict-below" },
        meets ? `✓ ${t("kpi.target_met")}` : `✗ ${t("kpi.target_missed")}`));
    }
    $("kpi-tonne-km").textContent = formatAmount(k ? k.tonne_km : null);
    $("kpi-co2").textContent = formatAmount(k ? k.co2_net_t : null);
    $("kpi-saving").textContent = k && k.economics_computed === false
      ? t("fig.tile_no_costs") : formatAmount(k ? k.saving_cny : null);
  }

  // ---------------------------------------------------------------- map
  function enterpriseIndex() {
    const byId = new Map();
    for (const e of state.enterprises) byId.set(e.id, e);
    if (state.result) for (const e of state.result.enterprises || []) byId.set(e.id, e);
    return byId;
  }

  function mapEnterprises() {
    return state.result ? (state.result.enterprises || []) : state.enterprises;
  }

  function exchanges() { return (state.result && state.result.exchanges) || []; }

  // ---------------------------------------------------------------- basemap
  const HUNAN_BOX = { x0: 108.8, x1: 114.3, y0: 24.6, y1: 30.1 };  // when nothing is placed

  /** The map's lon/lat box: every enterprise, grown by 8 % (at least 0.05°). */
  function mapView(ents) {
    const xs = ents.map((e) => Number(e.lon)).filter(Number.isFinite);
    const ys = ents.map((e) => Number(e.lat)).filter(Number.isFinite);
    if (!xs.length || !ys.length) return HUNAN_BOX;
    const x0 = Math.min(...xs); const x1 = Math.max(...xs);
    const y0 = Math.min(...ys); const y1 = Math.max(...ys);
    const pad = Math.max(0.08 * Math.max(x1 - x0, y1 - y0), 0.05);
    return { x0: x0 - pad, x1: x1 + pad, y0: y0 - pad, y1: y1 + pad };
  }

  /** The offline basemap (GET api/basemap: Natural Earth provinces, GeoNames seats) cut to
   * the rings that meet `view` (grown by half a degree) and the labels inside it. */
  function basemapTraces(view) {
    const base = state.basemap;
    if (!base) return [];
    const m = 0.5;
    const x = [];
    const y = [];
    let ring = [];
    const flush = () => {
      if (!ring.length) return;
      const rx = ring.map((p) => p[0]);
      const ry = ring.map((p) => p[1]);
      if (Math.min(...rx) <= view.x1 + m && Math.max(...rx) >= view.x0 - m
        && Math.min(...ry) <= view.y1 + m && Math.max(...ry) >= view.y0 - m) {
        for (const [px, py] of ring) { x.push(px); y.push(py); }
        x.push(null); y.push(null);
      }
      ring = [];
    };
    for (let i = 0; i < base.x.length; i++) {
      if (base.x[i] === null) flush(); else ring.push([base.x[i], base.y[i]]);
    }
    flush();
    const inside = (p) => p.lon >= view.x0 && p.lon <= view.x1 && p.lat >= view.y0 && p.lat <= view.y1;
    const places = base.places.filter(inside);
    const name = (p) => (state.lang === "zh" ? p.name_zh : p.name_en);
    const traces = [];
    if (x.length) {
      traces.push({
        type: "scatter", mode: "lines", x, y, name: t("basemap_boundary"), hoverinfo: "skip",
        line: { color: "#9a9a9a", width: 1 }, meta: { kind: "basemap" },
      });
    }
    for (const kind of ["province", "seat"]) {
      const list = places.filter((p) => p.kind === kind);
      if (!list.length) continue;
      traces.push({
        type: "scatter", mode: "text", x: list.map((p) => p.lon), y: list.map((p) => p.lat),
        text: list.map(name), hoverinfo: "skip", name: t(kind === "seat" ? "basemap_places" : "basemap_boundary"),
        showlegend: kind === "seat",
        textfont: kind === "seat" ? { color: "#555", size: 11 } : { color: "#888", size: 14 },
        meta: { kind: "places", level: kind },
      });
    }
    return traces;
  }

  async function loadBasemap() {
    const resp = await fetch("api/basemap", { headers: { Accept: "application/json" } });
    if (resp.ok) state.basemap = await resp.json();
  }

  function renderMap() {
    if (!window.Plotly) return;
    const div = $("map");
    const ents = mapEnterprises();
    const byId = enterpriseIndex();
    const rows = exchanges();
    const view = mapView(ents);
    const traces = basemapTraces(view);
    $("map-attribution").textContent = state.basemap ? state.basemap.attribution[state.lang] || "" : "";

    // exchange lines: one trace per material and width class (width ~ sqrt of the quantity
    // relative to the largest exchange of the same unit, as in geo/export.py)
    const top = {};
    for (const x of rows) {
      const unit = x.unit || materialUnit(x.offer_material);
      top[unit] = Math.max(top[unit] || 0, Number(x.quantity) || 0);
    }
    const groups = new Map();
    for (const x of rows) {
      const a = byId.get(x.offer_enterprise_id);
      const b = byId.get(x.need_enterprise_id);
      if (!a || !b) continue;
      const unit = x.unit || materialUnit(x.offer_material);
      const share = top[unit] > 0 ? Math.sqrt((Number(x.quantity) || 0) / top[unit]) : 0;
      const bucket = Math.min(3, Math.floor(share * 4));
      const key = `${x.offer_material}|${bucket}`;
      if (!groups.has(key)) groups.set(key, { material: x.offer_material, bucket, x: [], y: [], text: [] });
      const g = groups.get(key);
      const label = `${esc(a.name)} → ${esc(b.name)}<br>${esc(materialName(x.offer_material))}: `
        + `${formatAmount(x.quantity)} ${esc(perYear(unit))} · ${formatAmount(x.distance_km)} ${t("unit.km")}`;
      g.x.push(Number(a.lon), Number(b.lon), null);
      g.y.push(Number(a.lat), Number(b.lat), null);
      g.text.push(label, label, null);
    }
    const shown = new Set();
    const ordered = [...groups.values()].sort((p, q) => (
      materialName(p.material).localeCompare(materialName(q.material), locale()) || p.bucket - q.bucket));
    for (const g of ordered) {
      traces.push({
        type: "scatter", mode: "lines", x: g.x, y: g.y, text: g.text, hoverinfo: "text",
        name: materialName(g.material), legendgroup: g.material,
        showlegend: !shown.has(g.material),
        line: { color: materialColour(g.material), width: 0.8 + 5.2 * (g.bucket + 1) / 4 },
        opacity: 0.85, meta: { kind: "exchanges", material: g.material },
      });
      shown.add(g.material);
    }

    // enterprises: one trace per role (shape and colour), hover with name, sector and park
    const sent = new Set(rows.map((x) => x.offer_enterprise_id));
    const got = new Set(rows.map((x) => x.need_enterprise_id));
    const byRole = { supplier: [], user: [], both: [], unmatched: [] };
    for (const e of ents) {
      const s = sent.has(e.id);
      const r = got.has(e.id);
      byRole[s && r ? "both" : s ? "supplier" : r ? "user" : "unmatched"].push(e);
    }
    for (const [role, list] of Object.entries(byRole)) {
      if (!list.length) continue;
      traces.push({
        type: "scatter", mode: "markers", name: `${t("enterprises")}: ${t(`role_${role}`)}`,
        x: list.map((e) => Number(e.lon)), y: list.map((e) => Number(e.lat)),
        text: list.map((e) => `<b>${esc(e.name)}</b> (${esc(e.id)})<br>${t("sector_label")}: `
          + `${esc(sectorLabel(e.sector))}<br>${t("park_label")}: ${esc(e.park || "—")}`),
        hoverinfo: "text",
        marker: {
          symbol: ROLES[role].symbol, size: 11, color: ROLES[role].colour,
          line: { width: role === "unmatched" ? 2 : 1, color: role === "unmatched" ? "#777" : "#222" },
        },
        meta: { kind: "enterprises", role, ids: list.map((e) => e.id) },
      });
    }

    // gaps: indicative location of an absorber, when the Gaps panel asked for them
    const absorbers = ((state.gaps && state.gaps.absorbers) || []).filter((a) => a.location);
    if (absorbers.length) {
      traces.push({
        type: "scatter", mode: "markers", name: t("gap_location"),
        x: absorbers.map((a) => Number(a.location.lon)), y: absorbers.map((a) => Number(a.location.lat)),
        text: absorbers.map((a) => `${esc(materialName(a.offer_material))} → `
          + `${esc((state.lang === "zh" ? a.need_name_zh || a.name_zh : a.need_name_en || a.name_en)
          || materialName(a.need_material))}<br>`
          + `${(a.sectors || []).map((s) => esc(`${s.code} ${state.lang === "zh" ? s.name_zh : s.name_en}`)).join("<br>")}`),
        hoverinfo: "text",
        marker: { symbol: "star", size: 18, color: "#f2b705", line: { width: 1.5, color: "#222" } },
        meta: { kind: "gaps" },
      });
    }

    const lats = ents.map((e) => Number(e.lat)).filter(Number.isFinite);
    const meanLat = lats.length ? lats.reduce((s, v) => s + v, 0) / lats.length : 0;
    const layout = {
      margin: { l: 60, r: 10, t: 10, b: 50 }, hovermode: "closest",
      height: Math.max(div.clientHeight, 540),  // an empty panel has no height of its own yet
      plot_bgcolor: "#fff", paper_bgcolor: "#fff",
      font: { family: getComputedStyle(document.documentElement).fontFamily },
      // the data's box at the true scale: the plot area shrinks to fit it (constrain:
      // domain) rather than the ranges growing to fill the panel
      xaxis: {
        title: { text: t("longitude") }, showgrid: false, zeroline: false,
        range: [view.x0, view.x1], constrain: "domain",
      },
      yaxis: {
        title: { text: t("latitude") }, showgrid: false, zeroline: false,
        range: [view.y0, view.y1], constrain: "domain",
        scaleanchor: "x", scaleratio: 1 / Math.max(Math.cos(meanLat * Math.PI / 180), 0.1),
      },
      legend: { title: { text: t("legend_title") } },
    };
    $("map-empty").hidden = Boolean(state.result);
    window.Plotly.react(div, traces, layout, { displaylogo: false, responsive: true });
  }

  // ---------------------------------------------------------------- Sankey
  /** The unit families the run's exchanges use; the Sankey offers only these. */
  function presentFamilies() {
    const present = new Set();
    for (const x of exchanges()) present.add(materialFamily(x.offer_material, x.unit || materialUnit(x.offer_material)));
    return present;
  }

  function renderSankeyFamilies() {
    const select = $("sankey-family");
    const present = presentFamilies();
    for (const option of select.options) option.hidden = present.size > 0 && !present.has(option.value);
    select.disabled = present.size === 0;
    if (present.size && !present.has(select.value)) {
      const first = [...select.options].find((o) => present.has(o.value));
      if (first) select.value = first.value;
    }
    $("sankey-panel").hidden = Boolean(state.result) && present.size === 0;
  }

  function renderSankey() {
    if (!window.Plotly) return;
    renderSankeyFamilies();
    const family = $("sankey-family").value;
    const byId = enterpriseIndex();
    const links = new Map();
    for (const x of exchanges()) {
      const unit = x.unit || materialUnit(x.offer_material);
      if (materialFamily(x.offer_material, unit) !== family) continue;
      const a = byId.get(x.offer_enterprise_id);
      const b = byId.get(x.need_enterprise_id);
      const key = `${a ? a.sector || "" : ""}|${b ? b.sector || "" : ""}|${x.offer_material}`;
      const link = links.get(key) || { from: a ? a.sector || "" : "", to: b ? b.sector || "" : "", material: x.offer_material, unit, value: 0 };
      link.value += Number(x.quantity) || 0;
      links.set(key, link);
    }
    const nodes = [];
    const nodeIndex = new Map();
    const node = (side, code) => {
      const key = `${side}|${code}`;
      if (!nodeIndex.has(key)) { nodeIndex.set(key, nodes.length); nodes.push(sectorLabel(code)); }
      return nodeIndex.get(key);
    };
    const list = [...links.values()].sort((p, q) => q.value - p.value);
    const source = list.map((l) => node("from", l.from));
    const target = list.map((l) => node("to", l.to));
    const div = $("sankey");
    $("sankey-empty").hidden = list.length > 0;
    renderSankeyLegend(list);
    if (!list.length) {
      window.Plotly.purge(div);
      div.replaceChildren();
      return;
    }
    const trace = {
      type: "sankey", arrangement: "snap", valueformat: ",.0f",
      node: { label: nodes, pad: 14, thickness: 16, color: "#9aa5b1", line: { color: "#555", width: 0.5 } },
      link: {
        source, target, value: list.map((l) => l.value),
        label: list.map((l) => materialName(l.material)),
        color: list.map((l) => rgba(materialColour(l.material), 0.55)),
        customdata: list.map((l) => `${formatAmount(l.value)} ${perYear(l.unit)}`),
        hovertemplate: "%{source.label} → %{target.label}<br>%{label}: %{customdata}<extra></extra>",
      },
    };
    const layout = {
      margin: { l: 10, r: 10, t: 10, b: 10 }, paper_bgcolor: "#fff",
      font: { size: 12, family: getComputedStyle(document.documentElement).fontFamily },
    };
    window.Plotly.react(div, [trace], layout, { displaylogo: false, responsive: true });
  }

  /** A text legend of the Sankey's materials (colour swatch plus name and total). */
  function renderSankeyLegend(list) {
    const totals = new Map();
    for (const l of list) totals.set(l.material, (totals.get(l.material) || 0) + l.value);
    const old = document.getElementById("sankey-legend");
    if (old) old.remove();
    const ul = el("ul", { id: "sankey-legend", class: "legend" });
    for (const [slug, value] of totals) {
      ul.append(el("li", {},
        el("span", { class: "swatch", style: `background:${materialColour(slug)}`, "aria-hidden": "true" }),
        ` ${materialName(slug)}: ${formatAmount(value)} ${perYear(materialUnit(slug))}`));
    }
    $("sankey").after(ul);
  }

  // ---------------------------------------------------------------- short exchange table
  const EXCHANGE_ROWS = 15;  // the largest exchanges, by quantity

  /** An "est." mark with the estimate's source as its tooltip (listings that `symbiosis
   * estimate` made from capacities carry estimated = yes, source and confidence). */
  function estimateMark(source, confidence) {
    const tip = t("estimated_tip", { source: source || t("estimated_no_source"), confidence: confidence || "—" });
    return el("abbr", { class: "estimated", title: tip, "aria-label": tip, tabindex: "0" }, t("estimated_mark"));
  }

  function renderExchangeTable() {
    const box = $("exchange-table-box");
    box.replaceChildren();
    const all = exchanges();
    const rows = [...all].sort((a, b) => (Number(b.quantity) || 0) - (Number(a.quantity) || 0))
      .slice(0, EXCHANGE_ROWS);
    $("exchanges-panel").hidden = rows.length === 0;
    if (!rows.length) return;
    const byId = enterpriseIndex();
    const party = (id, name) => name || (byId.get(id) ? byId.get(id).name : id) || t("outside_party");
    const table = el("table", { id: "exchange-table" },
      el("caption", {}, t("exchanges_caption", { n: fmtNumber(rows.length), total: fmtNumber(all.length) })),
      el("thead", {}, el("tr", {}, [t("report.col_supplier"), t("report.col_receiver"), t("material"),
        t("report.col_quantity"), t("report.col_distance_km")].map((h, i) => el("th", { scope: "col", class: i >= 3 ? "num" : null }, h)))),
      el("tbody", {}, rows.map((x) => {
        const unit = x.unit || materialUnit(x.offer_material);
        const supplier = el("td", {}, party(x.offer_enterprise_id, x.offer_enterprise_name));
        if (x.offer_estimated === "yes") supplier.append(" ", estimateMark(x.offer_estimate_source, x.offer_estimate_confidence));
        const receiver = el("td", {}, party(x.need_enterprise_id, x.need_enterprise_name));
        if (x.need_estimated === "yes") receiver.append(" ", estimateMark(x.need_estimate_source, x.need_estimate_confidence));
        return el("tr", { "data-offer": x.offer_id || "", "data-need": x.need_id || "" }, supplier, receiver,
          el("td", {}, `${materialName(x.offer_material)} → ${materialName(x.need_material)}`),
          el("td", { class: "num" }, `${fmtNumber(Number(x.quantity))} ${perYear(unit)}`),
          el("td", { class: "num" }, fmtNumber(Number(x.distance_km), 1)));
      })));
    box.append(table);
    if (rows.some((x) => x.offer_estimated === "yes" || x.need_estimated === "yes")) {
      box.append(el("p", { class: "muted small", id: "estimated-key" }, t("estimated_key")));
    }
  }

  // ---------------------------------------------------------------- monthly charts
  const MONTHLY_PLOT_PX = 360;  // as .monthly-plot in style.css
  /** A monthly run (issue 15): matched tonnes per month against supply and demand, what
   * each month leaves unmatched, and each store's month-end level. Data points are the
   * API's figures as they are (GET api/runs/{id}/monthly), never re-derived here. */
  function renderMonthly() {
    const m = state.monthly;
    $("monthly-panel").hidden = !m;
    const flows = $("monthly-flows");
    const stores = $("monthly-stores");
    if (!window.Plotly) return;
    const clear = (div) => { window.Plotly.purge(div); div.replaceChildren(); };
    if (!m) { clear(flows); clear(stores); return; }
    const monthName = new Intl.DateTimeFormat(locale(), { month: "short" });
    const names = m.months.map((p) => monthName.format(new Date(2025, p.month - 1, 1)));
    const font = { size: 12, family: getComputedStyle(document.documentElement).fontFamily };
    const series = (key, kind, colour, extra = {}) => ({
      type: kind, name: t(`monthly_${key}`), x: names, y: m.months.map((p) => p[`${key}_t`]),
      meta: { key }, marker: { color: colour }, line: { color: colour, width: 2 },
      hovertemplate: `%{x}: %{y:,.0f} t<extra>${esc(t(`monthly_${key}`))}</extra>`, ...extra,
    });
    const flowTraces = [
      series("matched", "bar", "#2f7d4f"),
      series("unmatched", "bar", "#c0392b"),
      series("offered", "scatter", "#1f4e79", { mode: "lines+markers" }),
      series("needed", "scatter", "#b9770e", { mode: "lines+markers", line: { color: "#b9770e", width: 2, dash: "dash" } }),
    ];
    window.Plotly.react(flows, flowTraces, {
      barmode: "group", height: MONTHLY_PLOT_PX, margin: { l: 70, r: 10, t: 40, b: 30 }, paper_bgcolor: "#fff", font,
      yaxis: { title: { text: t("monthly_tonnes") } }, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    }, { displaylogo: false, responsive: true });
    $("monthly-note").textContent = t(state.run && state.run.park ? "monthly_note_park" : "monthly_note",
      { stock: fmtNumber(m.year_end_stock_t), lost: fmtNumber(m.lost_t) });
    $("monthly-no-stores").hidden = m.stores.length > 0;
    if (!m.stores.length) { clear(stores); return; }
    const byId = enterpriseIndex();
    const storeTraces = m.stores.map((s) => {
      const who = byId.get(s.enterprise_id) ? byId.get(s.enterprise_id).name : s.enterprise_id;
      const name = `${who} — ${materialName(s.material)} (${fmtNumber(s.capacity)} ${s.unit})`;
      return { type: "scatter", mode: "lines+markers", name, x: names, y: s.levels,
        meta: { store: s.enterprise_id, material: s.material, capacity: s.capacity },
        hovertemplate: `%{x}: %{y:,.0f} ${esc(s.unit)}<extra>${esc(name)}</extra>` };
    });
    window.Plotly.react(stores, storeTraces, {
      height: MONTHLY_PLOT_PX, margin: { l: 70, r: 10, t: 40, b: 30 }, paper_bgcolor: "#fff", font,
      yaxis: { title: { text: t("monthly_level") }, rangemode: "tozero" }, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    }, { displaylogo: false, responsive: true });
  }

  // ---------------------------------------------------------------- scenario panel
  function materialOptions(select, kind) {
    const keep = select.value;
    select.replaceChildren();
    const mats = [...state.materials.values()].sort((a, b) => {
      const rank = (m) => ((kind === "offers") === (m.kind === "byproduct") ? 0 : 1);
      return rank(a) - rank(b) || materialName(a.slug).localeCompare(materialName(b.slug), locale());
    });
    for (const m of mats) {
      select.append(el("option", { value: m.slug }, `${materialName(m.slug)} (${m.unit})`));
    }
    if (keep) select.value = keep;
  }

  function addListingRow() {
    const row = $("listing-row").content.firstElementChild.cloneNode(true);
    translateTree(row);
    const kind = row.querySelector(".lr-kind");
    const mat = row.querySelector(".lr-material");
    kind.addEventListener("change", () => materialOptions(mat, kind.value));
    row.querySelector(".lr-remove").addEventListener("click", () => row.remove());
    materialOptions(mat, kind.value);
    $("sc-listings").append(row);
    return row;
  }

  function renderScenarioInputs() {
    for (const row of document.querySelectorAll("#sc-listings .listing-row")) {
      materialOptions(row.querySelector(".lr-material"), row.querySelector(".lr-kind").value);
    }
    const remove = $("sc-remove");
    const keepRemove = remove.value;
    remove.replaceChildren(el("option", { value: "" }, "—"));
    const ents = [...enterpriseIndex().values()].sort((a, b) => String(a.id).localeCompare(String(b.id)));
    for (const e of ents) remove.append(el("option", { value: e.id }, `${e.id} · ${e.name}`));
    remove.value = keepRemove;
    const listing = $("sc-listing");
    const keepListing = listing.value;
    listing.replaceChildren(el("option", { value: "" }, "—"));
    for (const l of state.listings) {
      const unit = l.unit || materialUnit(l.material);
      listing.append(el("option", { value: JSON.stringify([l.listing, l.id]) },
        `${t(l.listing)} ${l.id} · ${materialName(l.material)} · ${fmtNumber(l.quantity)} ${unit}`));
    }
    listing.value = keepListing;
  }

  function describeChange(change) {
    const byId = enterpriseIndex();
    if (change.op === "add_enterprise") {
      return t("ch_add", {
        name: change.enterprise.name, id: change.enterprise.id,
        n: (change.offers || []).length + (change.needs || []).length,
      });
    }
    if (change.op === "remove_enterprise") {
      const e = byId.get(change.id);
      return t("ch_remove", { name: e ? e.name : change.id, id: change.id });
    }
    return t("ch_quantity", { listing: t(change.listing), id: change.id, q: fmtNumber(change.quantity, 3) });
  }

  function renderChanges() {
    const list = $("sc-changes");
    list.replaceChildren();
    state.changes.forEach((change, i) => {
      const drop = el("button", { type: "button", "aria-label": `${t("remove")}: ${describeChange(change)}` }, t("remove"));
      drop.addEventListener("click", () => { state.changes.splice(i, 1); renderChanges(); });
      list.append(el("li", {}, `${describeChange(change)} `, drop));
    });
    $("sc-no-changes").hidden = state.changes.length > 0;
  }

  function localProblem(key) {
    return { code: "invalid_request", message: t(key) };
  }

  function addEnterpriseChange() {
    const id = $("sc-id").value.trim();
    const name = $("sc-name").value.trim();
    const sector = $("sc-sector").value.trim();
    const lon = $("sc-lon").valueAsNumber;
    const lat = $("sc-lat").valueAsNumber;
    const change = { op: "add_enterprise", enterprise: { id, name, lon, lat }, offers: [], needs: [] };
    // coordinates as read off a Chinese map service: the server converts them to WGS 84
    // with the CLI's conversion (symbiosis.crs)
    const crs = $("sc-crs").value;
    if (crs !== "wgs84") change.crs = crs;
    if (sector) change.enterprise.sector = sector;
    if (state.park) change.enterprise.park = state.park;
    let ok = Boolean(id && name && Number.isFinite(lon) && Number.isFinite(lat));
    for (const row of document.querySelectorAll("#sc-listings .listing-row")) {
      const quantity = row.querySelector(".lr-quantity").valueAsNumber;
      if (!(quantity > 0)) ok = false;
      change[row.querySelector(".lr-kind").value].push({
        material: row.querySelector(".lr-material").value, quantity,
      });
    }
    if (!ok) { showError(localProblem("missing_fields")); return; }
    clearError();
    state.changes.push(change);
    renderChanges();
    for (const field of ["sc-id", "sc-name", "sc-sector", "sc-lon", "sc-lat"]) $(field).value = "";
    $("sc-listings").replaceChildren();
  }

  function addRemoveChange() {
    const id = $("sc-remove").value;
    if (!id) { showError(localProblem("pick_one")); return; }
    clearError();
    state.changes.push({ op: "remove_enterprise", id });
    renderChanges();
  }

  function addQuantityChange() {
    const value = $("sc-listing").value;
    const quantity = $("sc-quantity").valueAsNumber;
    if (!value || !(quantity >= 0)) { showError(localProblem("pick_one")); return; }
    clearError();
    const [listing, id] = JSON.parse(value);
    state.changes.push({ op: "set_quantity", listing, id, quantity });
    renderChanges();
  }

  function runOptions() {
    const options = { objective: $("objective-select").value };
    const km = $("max-km").value.trim();
    if (km !== "") options.max_km = Number(km);
    return options;
  }

  async function compare() {
    if (!state.changes.length) { showError(localProblem("need_changes")); return; }
    const button = $("compare-button");
    button.disabled = true;
    try {
      setStatus("st_comparing");
      const body = { changes: state.changes, options: runOptions() };
      if (state.park) body.park = state.park;
      state.compare = await api("api/scenarios", { method: "POST", body });
      renderCompare();
      setStatus("st_compared");
    } finally {
      button.disabled = false;
    }
  }

  const COMPARE_KEYS = [
    ["utilization_rate", "percent"], ["tonnes_matched", 0], ["tonne_km", 0],
    ["co2_net_t", 0], ["saving_cny", 0], ["exchanges", 0],
  ];

  /** "What changed that matters": the headline deltas with their cause (a rate that moved
   * because the offered tonnes, its denominator, changed), then the five largest changes of
   * exchanged quantity; the full tables follow it. */
  function compareSummary(c, diff, name) {
    const base = c.baseline || {};
    const scen = c.scenario || {};
    const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    const lines = [];
    const rate0 = num(base.utilization_rate);
    const rate1 = num(scen.utilization_rate);
    if (rate0 !== null && rate1 !== null && Math.abs(rate1 - rate0) >= 0.0005) {
      const off0 = num(base.tonnes_offered);
      const off1 = num(scen.tonnes_offered);
      const got0 = num(base.tonnes_matched);
      const got1 = num(scen.tonnes_matched);
      const pp = `${rate1 > rate0 ? "+" : ""}${fmtNumber((rate1 - rate0) * 100, 1)} pp`;
      let cause = "";
      if (off0 !== null && off1 !== null && Math.abs(off1 - off0) > 0.5) {
        cause = t(off1 < off0 ? "cause_smaller_denominator" : "cause_larger_denominator", {
          before: formatAmount(off0), after: formatAmount(off1), unit: perYear("t") });
        if (got0 !== null && got1 !== null && Math.abs(got1 - got0) > 0.5) {
          cause += `; ${t("cause_matched", { before: formatAmount(got0), after: formatAmount(got1), unit: perYear("t") })}`;
        }
      } else if (got0 !== null && got1 !== null) {
        cause = t("cause_matched", { before: formatAmount(got0), after: formatAmount(got1), unit: perYear("t") });
      }
      lines.push(el("li", { "data-key": "utilization_rate" },
        `${t("kpi.utilization_short")} ${fmtPercent(rate0)} → ${fmtPercent(rate1)} (${pp})${cause ? ` — ${cause}` : ""}`));
    }
    for (const key of ["tonnes_matched", "co2_net_t", "saving_cny"]) {
      const v0 = num(base[key]);
      const v1 = num(scen[key]);
      if (v0 === null || v1 === null || Math.abs(v1 - v0) < Math.max(1, Math.abs(v0) * 0.001)) continue;
      lines.push(el("li", { "data-key": key },
        `${t(`axis.${key}`)}: ${formatAmount(v0)} → ${formatAmount(v1)} (${v1 > v0 ? "+" : ""}${formatAmount(v1 - v0)})`));
    }
    const size = (r) => Math.abs((Number(r.quantity_after) || 0) - (Number(r.quantity_before) || 0));
    const largest = [...diff].filter((r) => size(r) > 0).sort((p, q) => size(q) - size(p)).slice(0, 5);
    return el("div", { id: "compare-summary" },
      el("h3", {}, t("what_matters")),
      lines.length ? el("ul", { id: "compare-kpi-causes" }, lines) : el("p", { class: "muted" }, t("no_kpi_change")),
      largest.length ? el("h4", {}, t("largest_changes", { n: fmtNumber(largest.length), total: fmtNumber(diff.length) })) : "",
      largest.length ? el("ol", { id: "compare-largest" }, largest.map((r) => el("li", {},
        `${name(r.offer_enterprise_id)} → ${name(r.need_enterprise_id)}, ${materialName(r.offer_material)}: `
        + `${formatAmount(Number(r.quantity_before) || 0)} → ${formatAmount(Number(r.quantity_after) || 0)} `
        + `${perYear(materialUnit(r.offer_material, r.unit))}`))) : "");
  }

  function renderCompare() {
    const box = $("compare-result");
    box.replaceChildren();
    const c = state.compare;
    if (!c) return;
    const fmt = (v, how) => (how === "percent" ? fmtPercent(v) : fmtNumber(v, how));
    const deltaCell = (v, how) => {
      if (typeof v !== "number") return el("td", { class: "num" }, "—");
      const text = how === "percent"
        ? `${v > 0 ? "+" : ""}${fmtNumber(v * 100, 1)} pp`
        : `${v > 0 ? "+" : ""}${fmtNumber(v, how)}`;
      return el("td", { class: `num ${v > 0 ? "delta-up" : v < 0 ? "delta-down" : ""}` }, text);
    };
    const delta = c.delta || {};
    const table = el("table", { id: "compare-table" },
      el("caption", {}, t("scenario_heading")),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, t("report.label")), el("th", { scope: "col", class: "num" }, t("baseline")),
        el("th", { scope: "col", class: "num" }, t("scenario")), el("th", { scope: "col", class: "num" }, t("delta")))),
      el("tbody", {}, COMPARE_KEYS.map(([key, how]) => {
        const base = c.baseline ? c.baseline[key] : null;
        const scen = c.scenario ? c.scenario[key] : null;
        const d = typeof delta[key] === "number" ? delta[key]
          : (typeof base === "number" && typeof scen === "number" ? scen - base : null);
        return el("tr", {}, el("th", { scope: "row" }, t(`axis.${key}`)),
          el("td", { class: "num" }, fmt(base, how)), el("td", { class: "num" }, fmt(scen, how)),
          deltaCell(d, how));
      })));
    const sentences = (c.changes || []).map((ch) => (typeof ch === "string" ? ch
      : ch.text || ch.message || ch.description || ch.summary || JSON.stringify(ch)));
    const diff = c.exchanges_diff || [];
    const byId = enterpriseIndex();
    const name = (id) => (byId.get(id) ? `${byId.get(id).name}` : id);
    const diffTable = diff.length ? el("details", { id: "compare-diff-box" },
      el("summary", {}, `${t("changed_exchanges")} (${fmtNumber(diff.length)})`),
      el("table", { id: "compare-diff" },
      el("thead", {}, el("tr", {}, [t("change"), t("report.col_supplier"), t("report.col_receiver"),
        t("material"), t("before"), t("after"), t("report.col_distance_km")].map((h, i) => el("th", { scope: "col", class: i >= 4 ? "num" : null }, h)))),
      el("tbody", {}, diff.map((r) => el("tr", {},
        el("td", {}, t(r.change) || r.change), el("td", {}, name(r.offer_enterprise_id)),
        el("td", {}, name(r.need_enterprise_id)),
        el("td", {}, `${materialName(r.offer_material)} → ${materialName(r.need_material)}`),
        el("td", { class: "num" }, fmtNumber(r.quantity_before)),
        el("td", { class: "num" }, fmtNumber(r.quantity_after)),
        el("td", { class: "num" }, fmtNumber(r.distance_km, 1)))))))
      : el("p", { class: "muted" }, t("no_changed_exchanges"));
    box.append(
      compareSummary(c, diff, name),
      el("div", { class: "compare-columns" }, table,
        el("div", {}, el("h3", {}, t("applied_changes")), el("ul", { id: "compare-changes" },
          sentences.map((s) => el("li", {}, s))))),
      diffTable);
  }

  // ---------------------------------------------------------------- dataset upload (admin)
  async function upload() {
    const file = $("upload-file").files[0];
    if (!file) { showError(localProblem("pick_one")); return; }
    const button = $("upload-button");
    button.disabled = true;
    try {
      setStatus("st_uploading");
      const form = new FormData();
      form.append("file", file);
      const done = await api("api/datasets", { method: "POST", body: form });
      $("upload-file").value = "";
      state.parks = listOf(await api("api/parks"));
      renderParks();
      await selectPark(state.park && state.parks.some((p) => p.name === state.park) ? state.park : "");
      setStatus("st_uploaded", t("uploaded", {
        version: done.version, e: fmtNumber(done.enterprises), o: fmtNumber(done.offers),
        n: fmtNumber(done.needs), w: fmtNumber((done.warnings || []).length),
      }));
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- gaps
  async function loadGaps() {
    const button = $("gaps-button");
    button.disabled = true;
    try {
      setStatus("st_gaps");
      const query = new URLSearchParams(parkParams());
      state.gaps = await api(`api/gaps${query.toString() ? `?${query}` : ""}`);
      for (const a of state.gaps.absorbers || []) {
        for (const s of a.sectors || []) state.sectorNames.set(s.code, s);
      }
      renderGaps();
      renderMap();
      setStatus("st_gaps_done");
    } finally {
      button.disabled = false;
    }
  }

  function renderGaps() {
    const box = $("gaps-result");
    box.replaceChildren();
    const g = state.gaps;
    if (!g) return;
    const unmatched = g.unmatched || [];
    const absorbers = g.absorbers || [];
    if (!unmatched.length) { box.append(el("p", {}, t("no_gaps"))); return; }
    const nameOf = (row, en, zh) => (state.lang === "zh" ? row[zh] : row[en]) || "";
    box.append(el("table", { id: "gaps-unmatched" }, el("caption", {}, t("unmatched")),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("material")),
        el("th", { scope: "col", class: "num" }, t("report.col_quantity")),
        el("th", { scope: "col", class: "num" }, t("offers_count")),
        el("th", { scope: "col" }, t("report.col_reason")))),
      el("tbody", {}, unmatched.map((u) => el("tr", {},
        el("td", {}, nameOf(u, "name_en", "name_zh") || materialName(u.material)),
        el("td", { class: "num" }, `${fmtNumber(u.quantity)} ${perYear(u.unit)}`),
        el("td", { class: "num" }, Array.isArray(u.offers) ? u.offers.length : fmtNumber(u.offers)),
        el("td", {}, Object.entries(u.reasons || {}).map(([code, q]) => {
          const why = known(`reason.${code}`) ? t(`reason.${code}`) : code;
          return typeof q === "number" ? `${why} (${fmtNumber(q)})` : why;
        }).join("; ")))))));
    if (absorbers.length) {
      box.append(el("details", { open: true },
        el("summary", {}, `${t("absorbers")} (${fmtNumber(absorbers.length)})`),
        el("table", { id: "gaps-absorbers" },
        el("thead", {}, el("tr", {}, [t("material"), t("serves"), t("sectors"), t("report.col_quantity"),
          t("location"), t("axis.average_haul_km"), t("suppliers")].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, absorbers.map((a) => el("tr", {},
          el("td", {}, materialName(a.offer_material)),
          el("td", {}, nameOf(a, "need_name_en", "need_name_zh") || nameOf(a, "name_en", "name_zh")
            || materialName(a.need_material)),
          el("td", {}, (a.sectors || []).map((s) => `${s.code} ${nameOf(s, "name_en", "name_zh")}`).join("; ")),
          el("td", { class: "num" }, `${fmtNumber(a.quantity)} ${perYear(a.unit)}`),
          el("td", {}, a.location ? `${fmtNumber(a.location.lon, 3)}, ${fmtNumber(a.location.lat, 3)}` : "—"),
          el("td", { class: "num" }, fmtNumber(a.mean_haul_km, 1)),
          el("td", {}, (a.suppliers || []).join(", "))))))));
    }
  }

  // ---------------------------------------------------------------- start
  function wire() {
    $("lang-toggle").addEventListener("click", () => {
      state.lang = state.lang === "zh" ? "en" : "zh";
      const params = new URLSearchParams(location.search);
      params.set("lang", state.lang);
      history.replaceState(null, "", `${location.pathname}?${params}`);
      applyLanguage();
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORE, key);
      state.key = key;
      $("key-input").value = "";
      guarded(connect);
    });
    $("park-select").addEventListener("change", (event) => guarded(() => selectPark(event.target.value)));
    $("run-button").addEventListener("click", () => guarded(runMatch));
    $("sankey-family").addEventListener("change", renderSankey);
    $("sc-add-listing").addEventListener("click", addListingRow);
    $("sc-add-enterprise").addEventListener("click", addEnterpriseChange);
    $("sc-add-remove").addEventListener("click", addRemoveChange);
    $("sc-add-quantity").addEventListener("click", addQuantityChange);
    $("sc-clear").addEventListener("click", () => { state.changes = []; state.compare = null; renderChanges(); renderCompare(); });
    $("compare-button").addEventListener("click", () => guarded(compare));
    $("gaps-button").addEventListener("click", () => guarded(loadGaps));
    $("upload-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(upload); });
  }

  async function start() {
    state.lang = initialLanguage();
    state.key = takeKeyFromFragment();
    wire();
    try {
      await loadCatalogue();
    } catch (err) {
      showError({ code: "catalogue", message: `${String(err.message || err)}`, requestId: err.requestId });
    }
    await loadBasemap().catch(() => {});  // the map draws without it if it fails
    applyLanguage();
    if (state.key) guarded(connect);
    else {
      setStatus("enter_key");
      guarded(async () => { await loadDemo("demo_no_key"); renderAll(); setStatus("enter_key"); });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
