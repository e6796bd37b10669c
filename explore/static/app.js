// OpenWIT explore: a hash-routed page over the JSON API. Every text from the corpus is web
// text, so it is only ever set as textContent or an attribute, never parsed as HTML.
"use strict";

const FACETS = ["outcome", "entry", "lang", "host", "contaminated_by", "shard"];
const LABELS = { outcome: "Outcome (stage: reason)", entry: "Query entry", lang: "Language",
  host: "Host", contaminated_by: "Contaminated by", shard: "Shard" };
const PAGE = 60;
let INFO = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined) q.set(k, v);
  const res = await fetch(`/api/${path}${q.toString() ? "?" + q : ""}`);
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
}

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "browse?outcome=kept";
  const [path, query] = hash.split("?");
  return { parts: path.split("/").map(decodeURIComponent), params: new URLSearchParams(query) };
}

function go(path, params) {
  const q = params ? new URLSearchParams(params).toString() : "";
  location.hash = `#/${path}${q ? "?" + q : ""}`;
}

function imageFor(row, cls) {
  if (!row.width) return el("div", { class: "thumb-missing " + (cls || ""), text: "no image" });
  return el("img", { src: `/api/image/${encodeURIComponent(row.pair_id)}`, loading: "lazy",
    alt: row.caption || "", class: cls });
}

function badge(row) {
  const kept = row.status === "kept";
  return el("span", { class: "badge " + (kept ? "kept" : "dropped"), text: row.outcome });
}

function card(row) {
  const similar = INFO.search && row.status === "kept" ? el("a", { class: "similar",
    href: `#/neighbours/${encodeURIComponent(row.pair_id)}`, title: "nearest images",
    text: "similar", on: { click: (e) => e.stopPropagation() } }) : null;
  const meta = el("div", { class: "meta" }, badge(row), similar,
    row.score !== undefined ? el("span", { class: "score", text: row.score.toFixed(3) }) : null);
  return el("div", { class: "card", "data-pair-id": row.pair_id,
    on: { click: () => go(`sample/${encodeURIComponent(row.pair_id)}`) } },
    imageFor(row), el("div", { class: "cap", text: row.caption || "(no caption)" }), meta);
}

function filtersOf(params) {
  const f = {};
  for (const k of [...FACETS, "text"]) if (params.get(k)) f[k] = params.get(k);
  return f;
}

async function renderFacets(filters) {
  const aside = document.getElementById("facets");
  const data = await api("facets", filters);
  aside.replaceChildren(el("h3", { text: "Caption contains" }),
    el("input", { type: "search", id: "text-filter", value: filters.text || "",
      placeholder: "words in the caption",
      on: { change: (e) => go("browse", { ...filters, text: e.target.value }) } }));
  for (const name of FACETS) {
    const values = data[name] || [];
    if (!values.length) continue;
    aside.append(el("h3", { text: LABELS[name] }));
    for (const v of values) {
      const active = filters[name] === String(v.value);
      const next = { ...filters };
      if (active) delete next[name]; else next[name] = v.value;
      aside.append(el("div", { class: "facet-value" + (active ? " active" : ""),
        "data-facet": name, "data-value": v.value, on: { click: () => go("browse", next) } },
        el("span", { text: v.value }), el("span", { class: "n", text: v.count.toLocaleString() })));
    }
  }
}

async function browse(params) {
  const filters = filtersOf(params);
  const offset = Number(params.get("offset") || 0);
  const view = document.getElementById("view");
  const facetsDone = renderFacets(filters);
  const data = await api("samples", { ...filters, offset, limit: PAGE });
  const chips = el("div", { class: "chips" },
    el("span", { text: `${data.total.toLocaleString()} samples` }),
    Object.entries(filters).map(([k, v]) => {
      const rest = { ...filters }; delete rest[k];
      return el("span", { class: "chip" }, `${LABELS[k] || k}: ${v}`,
        el("a", { href: "#", title: "remove", text: "×",
          on: { click: (e) => { e.preventDefault(); go("browse", rest); } } }));
    }));
  const nav = el("div", { class: "more" },
    offset > 0 ? el("button", { on: { click: () => go("browse",
      { ...filters, offset: Math.max(0, offset - PAGE) }) } }, "Previous") : null, " ",
    offset + PAGE < data.total ? el("button", { on: { click: () => go("browse",
      { ...filters, offset: offset + PAGE }) } }, "Next") : null);
  view.replaceChildren(chips, el("div", { class: "grid", id: "results" }, data.rows.map(card)), nav);
  await facetsDone;
}

async function search(params) {
  const q = params.get("q") || "";
  document.getElementById("search").value = q;
  const data = await api("search", { q, k: 40 });
  document.getElementById("view").replaceChildren(
    el("h2", { text: `Images for “${q}”` }),
    el("div", { class: "grid", id: "results", "data-query": q }, data.rows.map(card)));
}

async function neighbours(pairId) {
  const data = await api(`neighbours/${encodeURIComponent(pairId)}`, { k: 40 });
  document.getElementById("view").replaceChildren(
    el("h2", {}, "Nearest images to ",
      el("a", { href: `#/sample/${encodeURIComponent(pairId)}`, text: pairId })),
    el("div", { class: "grid", id: "results" }, data.rows.map(card)));
}

function dupFigure(row, label) {
  return el("figure", { class: "dup", "data-pair-id": row.pair_id },
    el("a", { href: `#/sample/${encodeURIComponent(row.pair_id)}` }, imageFor(row)),
    el("figcaption", {}, el("strong", { text: label }), " ", badge(row), el("br"),
      row.caption || ""));
}

async function sample(pairId) {
  const s = await api(`sample/${encodeURIComponent(pairId)}`);
  const p = (v) => (v === null || v === undefined ? "—" : v);
  const prov = el("dl", { class: "prov" },
    el("dt", { text: "caption" }), el("dd", { class: "prov-caption", text: p(s.caption) }),
    el("dt", { text: "image URL" }), el("dd", { class: "prov-url" },
      el("a", { href: s.url, rel: "noreferrer", target: "_blank", text: s.url })),
    el("dt", { text: "page" }), el("dd", { class: "prov-page-url" },
      el("a", { href: s.page_url, rel: "noreferrer", target: "_blank", text: p(s.page_url) })),
    el("dt", { text: "found in" }), el("dd", { text: `${p(s.source)} · page lang ${p(s.page_lang)}` }),
    el("dt", { text: "language" }), el("dd", { text: s.lang ?
      `${s.lang} (p ${Number(s.lang_prob).toFixed(2)})` : "—" }),
    el("dt", { text: "balance probability" }), el("dd", { class: "prov-balance",
      text: s.balance_probability === null ? "—" : s.balance_probability.toFixed(3) +
        (INFO.balance_t ? ` (t = ${INFO.balance_t})` : "") }),
    el("dt", { text: "download" }), el("dd", { text: `${p(s.http_status)} · ${p(s.width)}×${
      p(s.height)} (from ${p(s.original_width)}×${p(s.original_height)}) · ${p(s.bytes)} bytes` +
      (s.error_message ? ` · ${s.error_message}` : "") }),
    el("dt", { text: "model score" }), el("dd", { text: s.model_score === null ? "—" :
      s.model_score.toFixed(3) }),
    el("dt", { text: "contaminated by" }), el("dd", { text: (s.contaminated_by || []).join(", ") || "—" }),
    el("dt", { text: "shard / key" }), el("dd", { class: "prov-shard",
      text: `${p(s.shard)} / ${p(s.key)}` + (s.position !== null ? ` (position ${s.position})` : "") }),
    el("dt", { text: "pair id" }), el("dd", { text: s.pair_id }));
  const stages = el("div", { class: "stages" }, s.stages.map((st) =>
    el("span", { class: `stage ${st.state.replace(" ", "-")}`, "data-stage": st.stage },
      `${st.stage}: ${st.reason || st.state}`)));
  const entries = s.entries.length ? el("table", { class: "entries" },
    el("tr", {}, ["entry", "matched", "selected", "kept", "keep p"].map((h) => el("th", { text: h }))),
    s.entries.map((e) => el("tr", {},
      el("td", {}, el("a", { href: `#/browse?entry=${encodeURIComponent(e.entry)}`, text: e.entry })),
      el("td", { text: e.matched }), el("td", { text: e.selected }), el("td", { text: e.kept }),
      el("td", { text: e.keep_probability === null ? "—" : e.keep_probability.toFixed(3) }))))
    : el("p", { text: "It matched no query entry." });
  const dups = [];
  if (s.survivor) dups.push(dupFigure(s, `this (${s.dup_kind || s.drop_reason})`),
    dupFigure(s.survivor, "its survivor"));
  for (const c of s.copies) dups.push(dupFigure(c, `copy (${c.dup_kind})`));
  const actions = s.indexed ? el("p", {}, el("a", { id: "neighbours-link",
    href: `#/neighbours/${encodeURIComponent(s.pair_id)}`, text: "Nearest images →" })) : null;
  document.getElementById("view").replaceChildren(el("div", { class: "sample", id: "sample",
    "data-pair-id": s.pair_id },
    el("div", { class: "hero" }, imageFor(s), el("p", {}, badge(s)), actions),
    el("div", {}, el("h2", { text: s.caption || "(no caption)" }), stages,
      dups.length ? el("h4", { text: "Duplicates, side by side" }) : null,
      dups.length ? el("div", { class: "dups", id: "dups" }, dups) : null,
      el("h4", { text: "Provenance" }), prov,
      el("h4", { text: "Query entries it matched" }), entries)));
}

async function entries(params) {
  const sort = params.get("sort") || "matched", order = params.get("order") || "desc";
  const q = params.get("q") || "", offset = Number(params.get("offset") || 0);
  const data = await api("entries", { sort, order, q, offset, limit: 100 });
  const head = ["entry", "matched", "selected", "kept"].map((c) => {
    const next = sort === c && order === "desc" ? "asc" : "desc";
    const arrow = sort === c ? (order === "desc" ? " ▼" : " ▲") : "";
    return el("th", {}, el("a", { href: `#/entries?sort=${c}&order=${next}&q=${encodeURIComponent(q)}`,
      "data-sort": c, text: c + arrow }));
  });
  const rows = data.rows.map((e) => el("tr", {},
    el("td", {}, el("a", { href: `#/browse?entry=${encodeURIComponent(e.entry)}`, text: e.entry })),
    [e.matched, e.selected, e.kept].map((n) => el("td", { text: n.toLocaleString() }))));
  document.getElementById("view").replaceChildren(
    el("h2", { text: `Query entries (${data.total.toLocaleString()} matched at least once)` }),
    el("p", { text: `matched: pairs whose text contains the entry · selected: kept by balancing` +
      (data.t ? ` (t = ${data.t})` : "") + " · kept: in the shards" }),
    el("input", { type: "search", value: q, placeholder: "filter entries",
      on: { change: (e) => go("entries", { sort, order, q: e.target.value }) } }),
    el("table", { class: "entries", id: "entries" }, el("tr", {}, head), rows),
    el("div", { class: "more" }, offset + 100 < data.total ? el("button", { on: { click: () =>
      go("entries", { sort, order, q, offset: offset + 100 }) } }, "Next") : null));
}

function showError(err) {
  document.getElementById("view").replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
}

async function render() {
  const { parts, params } = route();
  document.getElementById("facets").hidden = parts[0] !== "browse";
  try {
    if (parts[0] === "sample") await sample(parts[1]);
    else if (parts[0] === "search") await search(params);
    else if (parts[0] === "neighbours") await neighbours(parts[1]);
    else if (parts[0] === "entries") await entries(params);
    else await browse(params);
    document.body.dataset.ready = location.hash;
  } catch (err) { showError(err); document.body.dataset.ready = location.hash; }
}

async function start() {
  INFO = await api("info");
  document.getElementById("counts").textContent =
    `${INFO.kept.toLocaleString()} kept of ${INFO.candidates.toLocaleString()} candidates`;
  const form = document.getElementById("search-form");
  form.hidden = !INFO.search;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = document.getElementById("search").value.trim();
    if (q) go("search", { q });
  });
  window.addEventListener("hashchange", render);
  render();
}

start();
