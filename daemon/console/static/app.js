// Tally admin console. Plain browser JavaScript, no build step: it signs in,
// then calls the same /v1 admin API as tallyctl with the caller's bearer
// credential, which stays in this tab's sessionStorage only.
"use strict";

const state = {
  token: sessionStorage.getItem("tally.token") || "",
  who: sessionStorage.getItem("tally.who") || "",
  account: sessionStorage.getItem("tally.account") || "",
  accounts: [],
  timer: null,
};

// ---------- small DOM helpers (textContent only: nothing from the server is parsed as HTML)
function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    // Styles go through the CSSOM: the Content-Security-Policy forbids
    // inline style attributes.
    else if (k === "style") Object.assign(n.style, v);
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}
const $ = (sel) => document.querySelector(sel);

function flash(msg) {
  const f = $("#flash");
  f.textContent = msg;
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 4000);
}

function when(t) {
  if (!t || t.startsWith("0001-")) return "";
  const d = new Date(t);
  return d.toLocaleString();
}
function ago(t) {
  if (!t || t.startsWith("0001-")) return "";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (Math.abs(s) < 60) return s >= 0 ? `${s}s ago` : `in ${-s}s`;
  const m = Math.round(s / 60);
  if (Math.abs(m) < 120) return m >= 0 ? `${m} min ago` : `in ${-m} min`;
  const h = Math.round(m / 60);
  return h >= 0 ? `${h} h ago` : `in ${-h} h`;
}

// table renders rows with columns [{title, get(row) → string|Node, class}].
function table(id, columns, rows, empty) {
  if (!rows || rows.length === 0) return el("p", { class: "empty", id: id + "-empty" }, empty || "Nothing here yet.");
  return el("table", { id },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.class }, c.title)))),
    el("tbody", {}, rows.map((r) => el("tr", { "data-key": columns.key ? columns.key(r) : undefined },
      columns.map((c) => el("td", { class: c.class }, c.get(r)))))));
}

// ---------- API
class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body, opts) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  let payload;
  if (body !== undefined) {
    if (opts && opts.raw) { payload = body; headers["Content-Type"] = opts.type || "text/plain"; }
    else { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  }
  const res = await fetch(path, { method, headers, body: payload });
  const node = res.headers.get("X-Tally-Node");
  if (node) {
    const st = res.headers.get("X-Tally-Raft-State") || "";
    const idx = res.headers.get("X-Tally-Applied-Index") || "";
    $("#freshness").textContent = `node ${node} (${st}, applied ${idx})`;
  }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: String(res.status), message: text || res.statusText };
    if (res.status === 401) signOut(err.message);
    throw new APIError(res.status, err.code, err.message);
  }
  return data;
}

// optional calls an endpoint that a page can live without (e.g. on a
// server that predates it): 404 becomes null instead of an error.
async function optional(method, path) {
  try { return await api(method, path); } catch (e) { if (e.status === 404 || e.status === 405) return null; throw e; }
}

// ---------- sign-in
function showSignIn(message) {
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = message || "";
}

function signOut(message) {
  if (state.timer) clearInterval(state.timer);
  if (state.token && state.who.startsWith("member:")) fetch("/v1/sessions/current", { method: "DELETE", headers: { Authorization: "Bearer " + state.token } }).catch(() => {});
  state.token = ""; state.who = "";
  sessionStorage.removeItem("tally.token"); sessionStorage.removeItem("tally.who");
  showSignIn(message);
}

function setupSignIn() {
  let mode = "password";
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      mode = tab.dataset.mode;
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      for (const d of document.querySelectorAll("[data-for]")) d.hidden = d.dataset.for !== mode;
    });
  }
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    try {
      if (mode === "token") {
        state.token = $("#signin-token").value.trim();
        state.who = "token";
        await api("GET", "/v1/accounts");
      } else {
        state.token = "";
        const s = await api("POST", "/v1/sessions", {
          account: $("#signin-account").value.trim(),
          email: $("#signin-email").value.trim(),
          password: $("#signin-password").value,
        });
        state.token = s.token;
        state.who = "member:" + s.email + " (" + s.role + ")";
        state.account = s.account;
      }
      sessionStorage.setItem("tally.token", state.token);
      sessionStorage.setItem("tally.who", state.who);
      sessionStorage.setItem("tally.account", state.account);
      await start();
    } catch (e) {
      state.token = "";
      $("#signin-error").textContent = e.message;
    }
  });
}

// ---------- shell
async function start() {
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#whoami").textContent = state.who.replace(/^member:/, "");
  const accounts = await api("GET", "/v1/accounts");
  state.accounts = (accounts || []).map((a) => a.id);
  const pick = $("#account");
  pick.replaceChildren(...state.accounts.map((id) => el("option", { value: id }, id)));
  if (!state.accounts.includes(state.account)) state.account = state.accounts[0] || "";
  pick.value = state.account;
  route();
}

const pages = {};

async function route() {
  if (state.timer) { clearInterval(state.timer); state.timer = null; }
  const name = (location.hash.replace(/^#\//, "") || "overview").split("?")[0];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + name);
  const page = pages[name] || pages.overview;
  const view = $("#view");
  const render = async () => {
    try {
      const content = await page();
      view.replaceChildren(...[].concat(content));
    } catch (e) {
      if (e instanceof APIError && e.status === 401) return;
      view.replaceChildren(el("p", { class: "error" }, e.message));
    }
  };
  await render();
  if (page.live) state.timer = setInterval(() => { if (!document.hidden && !busy) render(); }, page.live);
}
let busy = false; // a form is being filled in: don't redraw under the user

const acct = () => encodeURIComponent(state.account);

// ---------- pages
function consumptionBar(parts, total) {
  const seg = [];
  let used = 0;
  for (const [cls, n] of parts) {
    if (n <= 0) continue;
    used += n;
    seg.push(el("span", { class: cls, title: `${cls}: ${n}` }));
  }
  // Widths are set once every part is known, so parts never overflow the bar.
  const scale = Math.max(total, used, 1);
  parts.filter(([, n]) => n > 0).forEach(([, n], i) => { seg[i].style.width = `${(100 * n) / scale}%`; });
  return el("div", { class: "bar", role: "img", "aria-label": parts.map(([c, n]) => `${c} ${n}`).join(", ") + ` of ${total}` }, seg);
}
function legend(items) {
  return el("div", { class: "legend" }, items.map(([cls, label]) => el("span", {}, el("i", { class: "swatch " + cls }), label)));
}

pages.overview = async () => {
  const [status, usage, history] = await Promise.all([
    api("GET", "/v1/status"),
    optional("GET", `/v1/accounts/${acct()}/usage`),
    optional("GET", `/v1/accounts/${acct()}/usage-history?days=30`),
  ]);
  const out = [];
  if (usage && usage.seats) {
    const u = usage.seats;
    out.push(el("h2", {}, "Named-user seats"),
      el("div", { class: "card", id: "seat-consumption" },
        el("div", { class: "stat" }, `${u.active + u.pending + (u.unassigned || 0)} / ${u.purchased}`),
        consumptionBar([["active", u.active], ["pending", u.pending], ["unassigned", u.unassigned || 0]], u.purchased),
        legend([["active", `active ${u.active}`], ["pending", `pending ${u.pending}`], ["unassigned", `unassigned ${u.unassigned || 0}`], ["unused", `unused ${u.unused}`]])));
  }
  const pools = (status.pools || []).filter((p) => p.account === state.account);
  out.push(el("h2", {}, "Floating pools"));
  out.push(pools.length === 0 ? el("p", { class: "empty" }, "This account has no pools.") :
    el("div", { class: "grid", id: "pools" }, pools.map((p) => el("div", { class: "card pool", "data-feature": p.feature },
      el("strong", {}, p.feature),
      el("div", { class: "stat" }, el("span", { class: "active-count" }, p.active), ` / ${p.seats}`),
      consumptionBar([[p.active > p.seats ? "over" : "active", p.active]], p.seats),
      legend([["active", `active ${p.active}`], ["unused", `unused ${p.unused}`]])))));
  if (history && history.points && history.points.length) out.push(el("h2", {}, "Usage over time"), usageChart(history));
  const n = status.node;
  out.push(el("h2", {}, "Cluster"), el("div", { class: "card" },
    el("div", {}, "Node ", el("code", {}, n.node_id), " is ", pill(n.state), n.leader_id ? ` · leader ${n.leader_id}` : " · no leader"),
    el("div", { class: "muted small" }, `term ${n.term}, applied index ${n.applied_index}, ${status.leases} leases, ${status.devices} devices, ${status.waiting} waiting`)));
  return out;
};
pages.overview.live = 3000;

function pill(s) {
  const cls = /^(Leader|Follower|leader|follower|active|ok|accepted)$/.test(s) ? "ok" : /^(pending|Candidate|invited)$/.test(s) ? "warn" : /^(Shutdown|revoked|expired|unreachable)/.test(s) ? "bad" : "";
  return el("span", { class: "pill " + cls }, s);
}

// usageChart draws seat usage per day as an SVG line chart.
function usageChart(h) {
  const W = 900, H = 220, L = 40, B = 24, T = 10;
  const pts = h.points;
  const max = Math.max(1, ...pts.map((p) => Math.max(p.peak || 0, p.seats || 0)));
  const x = (i) => L + ((W - L - 10) * i) / Math.max(1, pts.length - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; return n; };
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, id: "usage-chart" });
  for (const v of [0, max / 2, max]) { svg.append(s("line", { x1: L, x2: W - 10, y1: y(v), y2: y(v), stroke: "#e3e6eb" }), s("text", { x: 4, y: y(v) + 4 }, String(Math.round(v)))); }
  const line = (key, color, dash) => svg.append(s("polyline", { fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash || "", points: pts.map((p, i) => `${x(i)},${y(p[key] || 0)}`).join(" ") }));
  line("seats", "#98a2b3", "4 3");
  line("peak", "#2556d9");
  pts.forEach((p, i) => { if (i % Math.ceil(pts.length / 8) === 0) svg.append(s("text", { x: x(i) - 14, y: H - 6 }, p.day.slice(5))); });
  return svg;
}

pages.leases = async () => {
  const leases = await api("GET", `/v1/leases?account=${acct()}`);
  const rows = (leases || []).filter((l) => l.account === state.account);
  return [el("h2", {}, `Live leases (${rows.length})`),
    table("leases", Object.assign([
      { title: "Device", get: (l) => el("span", {}, el("code", {}, l.device), l.hostname ? el("div", { class: "muted small" }, l.hostname) : "") },
      { title: "User", get: (l) => l.user || "" },
      { title: "Feature", get: (l) => l.feature },
      { title: "Lease", get: (l) => el("code", {}, l.id) },
      { title: "Kind", get: (l) => l.kind },
      { title: "Since", get: (l) => ago(l.since) },
      { title: "Expires", get: (l) => l.revoked ? pill("revoked") : ago(l.expires) },
      { title: "", get: (l) => l.revoked ? "" : el("button", { class: "danger revoke", "data-lease": l.id, onclick: () => revoke(l) }, "Revoke") },
    ], { key: (l) => "lease-" + l.id }), rows, "No device holds a lease of this account right now.")];
};
pages.leases.live = 2000;

async function revoke(l) {
  if (!confirm(`Revoke lease ${l.id} of ${l.device} (${l.feature})? Its seat frees when the lease's horizon passes.`)) return;
  try {
    await api("POST", `/v1/leases/${l.id}/revoke`, {});
    flash(`Lease ${l.id} revoked`);
    route();
  } catch (e) { flash("Revoke failed: " + e.message); }
}

pages.devices = async () => {
  const devices = await api("GET", `/v1/devices?account=${acct()}`);
  const rows = (devices || []).filter((d) => d.account === state.account);
  return [el("h2", {}, `Devices (${rows.length})`), table("devices", [
    { title: "Device Code", get: (d) => el("code", {}, d.code) },
    { title: "Hostname", get: (d) => d.hostname || "" },
    { title: "Enrolled", get: (d) => when(d.enrolled) },
    { title: "Key", get: (d) => el("code", { class: "small" }, (d.key_fingerprint || "").slice(0, 16)) },
  ], rows, "No device has enrolled in this account yet.")];
};

pages.queue = async () => {
  const q = await api("GET", `/v1/queue?account=${acct()}`);
  const rows = (q || []).filter((w) => w.account === state.account);
  return [el("h2", {}, `Waiting for a seat (${rows.length})`), table("queue", [
    { title: "#", class: "num", get: (w) => w.position },
    { title: "Feature", get: (w) => w.feature },
    { title: "Device", get: (w) => el("code", {}, w.device) },
    { title: "User", get: (w) => w.user || "" },
    { title: "Waiting since", get: (w) => ago(w.since) },
    { title: "Gives up", get: (w) => ago(w.deadline) },
  ], rows, "Nobody is waiting.")];
};
pages.queue.live = 2000;

pages.products = async () => {
  const [products, licenses] = await Promise.all([
    api("GET", `/v1/accounts/${acct()}/products`),
    api("GET", `/v1/accounts/${acct()}/licenses`),
  ]);
  const byProduct = {};
  for (const l of licenses || []) (byProduct[l.product] = byProduct[l.product] || []).push(l);
  return [
    el("h2", {}, "Products"),
    table("products", [
      { title: "Code", get: (p) => el("code", {}, p.code) },
      { title: "Name", get: (p) => p.name || "" },
      { title: "Kind", get: (p) => p.kind },
      { title: "Purchased", class: "num", get: (p) => p.quantity },
      { title: "Assigned", class: "num", get: (p) => (byProduct[p.code] || []).filter((l) => l.user || l.parent).length },
    ], products, "No products: add them with tallyctl products set."),
    el("h2", {}, "Licenses"),
    table("licenses", [
      { title: "UUID", get: (l) => el("code", { class: "small" }, l.id) },
      { title: "Product", get: (l) => l.name || l.product },
      { title: "User", get: (l) => l.user || l.parent_user || "" },
      { title: "Ext", get: (l) => l.ext_key || "" },
      { title: "Number", get: (l) => l.number || "" },
      { title: "Add-ons", get: (l) => (l.addon_codes || []).join(", ") },
    ], licenses, "No licenses."),
  ];
};

pages.import = async () => {
  const products = (await api("GET", `/v1/accounts/${acct()}/products`)) || [];
  const bases = products.filter((p) => p.kind === "base");
  const file = el("input", { type: "file", id: "import-file", accept: ".csv,text/csv" });
  const text = el("textarea", { id: "import-text", placeholder: "Ext Key,Number,User,Addon license 1\n101,+15550100101,ann@example.com,call_recording" });
  const product = el("select", { id: "import-product" }, bases.map((p) => el("option", { value: p.code }, p.name || p.code)));
  const result = el("div", { id: "import-result" });
  file.addEventListener("change", async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  text.addEventListener("focus", () => { busy = true; });
  const send = async (dry) => {
    result.replaceChildren(el("p", { class: "muted" }, dry ? "Checking…" : "Applying…"));
    try {
      const rep = await api("POST", `/v1/accounts/${acct()}/assignments/import.csv?product=${encodeURIComponent(product.value)}&dry_run=${dry}`, text.value, { raw: true, type: "text/csv" });
      result.replaceChildren(importReport(rep));
      if (rep.applied) busy = false;
    } catch (e) {
      result.replaceChildren(el("p", { class: "error" }, e.message));
    }
  };
  return [
    el("h2", {}, "Import assignments from a CSV"),
    el("p", { class: "muted" }, "Rows of Ext Key, Number, User, Addon license 1…N. Every row is checked first; if any row is bad nothing is applied. ",
      el("a", { href: "#/import", id: "import-sample", onclick: async (e) => { e.preventDefault(); text.value = await (await fetch("/console/sample.csv")).text(); } }, "Load the template")),
    el("div", { class: "toolbar" }, el("label", {}, "Product ", product), el("label", {}, "File ", file)),
    text,
    el("div", { class: "toolbar" },
      el("button", { type: "button", id: "import-check", onclick: () => send(true) }, "Check"),
      el("button", { type: "button", class: "primary", id: "import-apply", onclick: () => send(false) }, "Apply")),
    result,
  ];
};

function importReport(rep) {
  if (rep.errors && rep.errors.length) {
    return el("div", {},
      el("p", { class: "error" }, `${new Set(rep.errors.map((e) => e.line)).size} of ${rep.rows} rows are invalid; nothing was applied.`),
      table("import-errors", [
        { title: "Line", class: "num", get: (e) => e.line },
        { title: "Problem", get: (e) => e.kind },
        { title: "Reason", get: (e) => e.reason },
      ], rep.errors));
  }
  const what = rep.applied ? "Applied" : "Valid (nothing applied yet)";
  return el("p", { id: "import-ok" }, `${what}: ${rep.rows} rows, ${rep.created} new, ${rep.updated} changed, ${rep.unchanged} unchanged.`);
}

pages.cluster = async () => {
  const c = await api("GET", "/v1/cluster");
  return [el("h2", {}, "Cluster " + (c.cluster_id || "")), table("cluster", [
    { title: "Node", get: (m) => el("code", {}, m.id) },
    { title: "Role", get: (m) => pill(m.role) },
    { title: "Raft", get: (m) => m.raft_addr },
    { title: "Agents", get: (m) => m.agent_addr || "" },
    { title: "Admin", get: (m) => m.admin_addr || "" },
    { title: "Applied", class: "num", get: (m) => m.applied_index || "" },
    { title: "Last contact", get: (m) => m.error ? el("span", { title: m.error }, pill("unreachable")) : (m.role === "leader" ? "" : ago(m.last_contact)) },
  ], c.members, "No members.")];
};
pages.cluster.live = 3000;

// ---------- boot
window.addEventListener("hashchange", () => { busy = false; route(); });
document.addEventListener("DOMContentLoaded", () => {
  setupSignIn();
  $("#signout").addEventListener("click", () => signOut());
  $("#account").addEventListener("change", (e) => {
    state.account = e.target.value;
    sessionStorage.setItem("tally.account", state.account);
    route();
  });
  if (state.token) start().catch((e) => showSignIn(e.message));
  else showSignIn();
});
