// Tally admin console. Plain browser JavaScript, no build step: it signs in,
// then calls the same /v1 admin API as tallyctl with the caller's bearer
// credential, which stays in this tab's sessionStorage only.
"use strict";

const state = {
  token: sessionStorage.getItem("tally.token") || "",
  who: sessionStorage.getItem("tally.who") || "",
  // access is the session's admin role (account-owner, account-admin,
  // read-only); empty for an admin token, whose role the server enforces.
  access: sessionStorage.getItem("tally.access") || "",
  // adminOf lists the teams a team administrator's session manages.
  adminOf: JSON.parse(sessionStorage.getItem("tally.adminOf") || "[]"),
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
  state.token = ""; state.who = ""; state.access = "";
  sessionStorage.removeItem("tally.token"); sessionStorage.removeItem("tally.who"); sessionStorage.removeItem("tally.access"); sessionStorage.removeItem("tally.adminOf");
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
    $("#signin-note").textContent = "";
    if (mode === "approve") {
      // The device, polling, signs the member in; this tab stays signed out.
      try {
        await api("POST", "/v1/device-approvals", {
          account: $("#approve-account").value.trim(),
          user_code: $("#approve-code").value.trim(),
          email: $("#approve-email").value.trim(),
          password: $("#approve-password").value,
        });
        $("#approve-password").value = "";
        $("#signin-note").textContent = "Device approved: it signs you in within a few seconds.";
      } catch (e) { $("#signin-error").textContent = e.message; }
      return;
    }
    try {
      if (mode === "token") {
        state.token = $("#signin-token").value.trim();
        state.who = "token";
        state.access = "";
        state.adminOf = [];
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
        state.access = s.access;
        state.adminOf = s.admin_of || [];
      }
      sessionStorage.setItem("tally.token", state.token);
      sessionStorage.setItem("tally.who", state.who);
      sessionStorage.setItem("tally.account", state.account);
      sessionStorage.setItem("tally.access", state.access);
      sessionStorage.setItem("tally.adminOf", JSON.stringify(state.adminOf));
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
  $("#whoami").textContent = state.who.replace(/^member:/, "") + (state.access === "read-only" ? " · read-only" : "") +
    (state.access === "team-admin" ? " · administers " + state.adminOf.join(", ") : "");
  // The cluster's own pages need a cluster-wide token; a member's session
  // is limited to their account.
  $('nav a[href="#/cluster"]').hidden = state.access !== "";
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
      // A page may leave optional parts out as null (the audit page's
      // "more" note): replaceChildren would print them as "null".
      view.replaceChildren(...[].concat(content).filter((c) => c !== null && c !== undefined && c !== false));
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
  const [status, usage, history, denied] = await Promise.all([
    api("GET", "/v1/status"),
    optional("GET", `/v1/accounts/${acct()}/usage`),
    optional("GET", `/v1/accounts/${acct()}/usage-history?days=30`),
    optional("GET", `/v1/accounts/${acct()}/denials?from=${new Date(Date.now() - 29 * 864e5).toISOString().slice(0, 10)}`),
  ]);
  const out = [];
  if (usage && (usage.purchased || usage.active || usage.pending)) {
    const u = usage;
    const inUse = u.active + u.pending + (u.unassigned || 0);
    const cap = u.hard_cap ? "hard cap" : "soft cap";
    out.push(el("h2", {}, "Named-user seats"),
      el("div", { class: "card", id: "seat-consumption" },
        el("div", { class: "stat" }, `${inUse} / ${u.purchased}`, el("span", { class: "muted small" }, ` ${cap}`)),
        consumptionBar([["active", u.active], ["pending", u.pending], ["unassigned", u.unassigned || 0]], u.purchased),
        legend([["active", `active ${u.active}`], ["pending", `pending ${u.pending}`], ["unassigned", `unassigned ${u.unassigned || 0}`], ["unused", `unused ${u.unused}`]].concat(u.over ? [["over", `over by ${u.over} since ${when(u.over_since)}`]] : [])),
        u.next_charge ? el("p", { class: "small", id: "next-charge" }, `Next charge (estimate): ${u.next_charge.display} = ${u.next_charge.seats} seats × ${u.next_charge.currency} ${(u.next_charge.seat_price / 100).toFixed(2)}`,
          u.next_charge.at ? `, due ${when(u.next_charge.at)} for the next ${u.next_charge.period}` : ` per ${u.next_charge.period}`) : null,
        canEdit() ? el("button", { id: "request-seats", onclick: () => requestSeats() }, "Request seats…") : null));
  }
  const pools = (status.pools || []).filter((p) => p.account === state.account);
  const policies = await Promise.all(pools.map((p) => optional("GET", `/v1/accounts/${acct()}/pools/${encodeURIComponent(p.feature)}/policy`)));
  out.push(el("h2", {}, "Floating pools"));
  out.push(pools.length === 0 ? el("p", { class: "empty" }, "This account has no pools.") :
    el("div", { class: "grid", id: "pools" }, pools.map((p, i) => el("div", { class: "card pool", "data-feature": p.feature },
      el("strong", {}, p.feature),
      policies[i] ? el("div", { class: "muted small seat-basis" }, seatBasisText(policies[i].effective)) : "",
      el("div", { class: "stat" }, el("span", { class: "active-count" }, p.active), ` / ${p.seats}`),
      consumptionBar([[p.active > p.seats ? "over" : "active", p.active]], p.seats),
      legend([["active", `active ${p.active}`], ["unused", `unused ${p.unused}`]])))));
  if (history && history.points && history.points.length) out.push(el("h2", {}, "Usage over time"), usageChart(history),
    legend([["active", "most leases held at once each day"], ["bought", "seats bought (dashed orange)"]]));
  // Refused checkouts: the seats people needed and did not get.
  if (denied && denied.total > 0) {
    const byKey = {};
    for (const d of denied.denials) {
      const k = `${d.feature}\u0000${d.code}`;
      byKey[k] = (byKey[k] || 0) + d.count;
    }
    const rows = Object.entries(byKey).map(([k, count]) => { const [feature, code] = k.split("\u0000"); return { feature, code, count }; })
      .sort((a, b) => b.count - a.count);
    out.push(el("h2", {}, `Refused checkouts, last 30 days (${denied.total})`),
      table("denials", [
        { title: "Feature", get: (r) => r.feature },
        { title: "Reason", get: (r) => el("code", {}, r.code) },
        { title: "Refused", get: (r) => String(r.count) },
      ], rows, "None."));
  }
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
  // Drawn at the page's width so the labels keep their size.
  const W = Math.max(480, ($("#view").clientWidth || 948) - 48), H = 220, L = 40, B = 24, T = 10;
  const pts = h.points;
  const max = Math.max(1, ...pts.map((p) => Math.max(p.peak || 0, p.seats || 0)));
  const x = (i) => L + ((W - L - 10) * i) / Math.max(1, pts.length - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; return n; };
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, id: "usage-chart" });
  // Gridlines are thin, solid and pale; the "seats bought" line is thick,
  // dashed and orange, so the two cannot be taken for each other.
  for (const v of new Set([0, Math.round(max / 2), max])) { svg.append(s("line", { class: "gridline", x1: L, x2: W - 10, y1: y(v), y2: y(v), stroke: "#eceef2", "stroke-width": 1 }), s("text", { x: 4, y: y(v) + 4 }, String(Math.round(v)))); }
  const line = (key, color, width, dash, cls) => svg.append(s("polyline", { class: cls, fill: "none", stroke: color, "stroke-width": width, "stroke-dasharray": dash || "", points: pts.map((p, i) => `${x(i)},${y(p[key] || 0)}`).join(" ") }));
  line("seats", "#e07a10", 2.5, "9 5", "seats-line");
  line("peak", "#2556d9", 2, "", "peak-line");
  const last = pts[pts.length - 1];
  svg.append(s("text", { class: "seats-label", x: W - 10, y: y(last.seats || 0) - 6, "text-anchor": "end", fill: "#b45f06" }, `${last.seats || 0} bought`));
  pts.forEach((p, i) => {
    const dot = s("circle", { cx: x(i), cy: y(p.peak || 0), r: 3, fill: "#2556d9" });
    dot.append(s("title", {}, `${p.day}: at most ${p.peak || 0} of ${p.seats || 0} seats in use`));
    svg.append(dot);
  });
  pts.forEach((p, i) => { if (i % Math.ceil(pts.length / 8) === 0) svg.append(s("text", { x: x(i) - 14, y: H - 6 }, p.day.slice(5))); });
  return svg;
}

// seatBasisText says what one seat of a pool covers (tallyctl policy show
// says the same).
function seatBasisText(p) {
  switch (p.seat_basis) {
    case "member": return p.member_devices ? `per member, up to ${p.member_devices} devices each` : "per member, any number of devices";
    case "node-locked": return "node-locked: the device keeps its seat whoever signs in";
  }
  return "per device, however many members sign in on it";
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
  return [el("h2", {}, `Devices (${rows.length})`), table("devices", Object.assign([
    { title: "Device Code", get: (d) => el("code", {}, d.code) },
    { title: "Hostname", get: (d) => d.hostname || "" },
    { title: "Signed in", get: (d) => el("span", { class: "signed-in" }, ...(d.signed_in || []).map((m) =>
      el("span", { class: "member" }, m.email, canEdit() ? el("button", { class: "link sign-out", title: `Sign ${m.email} out of ${d.code}`, onclick: () => signMemberOut(d, m) }, "sign out") : ""))) },
    { title: "Last heartbeat", get: (d) => d.last_seen ? ago(d.last_seen) : "never" },
    { title: "Agent", get: (d) => d.agent_version || "" },
    { title: "Enrolled", get: (d) => when(d.enrolled) },
    { title: "Key", get: (d) => el("code", { class: "small" }, (d.key_fingerprint || "").slice(0, 16)) },
    { title: "", get: (d) => canEdit() ? el("button", { class: "danger remove-device", onclick: () => removeDevice(d) }, "Remove") : "" },
  ], { key: (d) => "device-" + d.code }), rows, "No device has enrolled in this account yet.")];
};

// signMemberOut ends a member's sign-in on a device: the leases held under
// it are revoked and the agent drops their tokens at its next heartbeat.
async function signMemberOut(d, m) {
  if (!confirm(`Sign ${m.email} out of device ${d.code}? Their leases on it are revoked (their seats free when their tokens expire).`)) return;
  act(`${m.email} signed out of ${d.code}`, () => api("POST", `/v1/accounts/${acct()}/users/${encodeURIComponent(m.email)}/sign-out`, { device: d.code }));
}

// removeDevice forgets a device (after a reinstall, or a suspected clone):
// its leases are revoked and its Device Code may enroll again.
async function removeDevice(d) {
  if (!confirm(`Remove device ${d.code}${d.hostname ? " (" + d.hostname + ")" : ""}? Its leases are revoked (their seats free when their tokens expire) and it must enroll again.`)) return;
  act(`Device ${d.code} removed`, () => api("DELETE", `/v1/accounts/${acct()}/devices/${encodeURIComponent(d.code)}`));
}

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
      { title: "", get: (l) => canEdit() ? el("button", { class: "danger terminate-license", "data-license": l.id, onclick: () => terminateLicense(l) }, "Terminate") : "" },
    ], licenses, "No licenses."),
  ];
};

// terminateLicense ends a license's subscription. One someone holds is
// terminated only after the administrator confirms who loses it (the
// server refuses it otherwise: confirmation_required).
async function terminateLicense(l) {
  const holder = l.user || l.parent_user;
  const what = `${l.name || l.product} license ${l.id}${l.ext_key ? ", extension " + l.ext_key : ""}`;
  const question = holder
    ? `${what} is assigned to ${holder}, who loses it. Terminate it? It leaves the subscription and the purchased count.`
    : `Terminate ${what}? It leaves the subscription and the purchased count.`;
  if (!confirm(question)) return;
  act(`License ${l.id} terminated`, () => api("POST", `/v1/licenses/${encodeURIComponent(l.id)}/terminate`, { force: !!holder }));
}

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

// ---------- members, invitations, teams
const canEdit = () => state.access !== "read-only" && state.access !== "team-admin";
const teamAdmin = () => state.access === "team-admin";
// canManageTeam: account administrators manage every team, a team
// administrator the teams they administer (the server checks it again).
const canManageTeam = (team) => canEdit() || (teamAdmin() && state.adminOf.includes(team));
const roles = ["owner", "administrator", "member", "administrator_assistant", "assistant"];
const roleLabel = (r) => r.replace("_", " ");

// act runs a change, flashes the outcome and redraws the page.
// requestSeats asks the cluster operator for more member seats: the
// request is recorded (audit log) and e-mailed to the operator.
async function requestSeats() {
  const n = parseInt(prompt("How many more member seats?", "5") || "", 10);
  if (!(n > 0)) return;
  const note = prompt("A note for the operator (why, for whom, by when):", "") || "";
  act(`Asked the operator for ${n} more seats`, () => api("POST", `/v1/accounts/${acct()}/seat-requests`, { seats: n, note }));
}

async function act(what, fn) {
  try {
    await fn();
    flash(what);
    busy = false;
    route();
  } catch (e) { flash(e.message); }
}

function seatSummary(u) {
  if (!u) return null;
  return el("p", { class: "muted", id: "seat-summary" },
    `${u.active + u.pending + (u.unassigned || 0)} of ${u.purchased} seats in use (${u.active} active, ${u.pending} pending, ${u.unassigned || 0} unassigned), ${u.unused} unused; ${u.non_consuming || 0} assistants hold none. `,
    u.hard_cap ? "Hard cap: a full account refuses new members." : "Soft cap: it may go over for 30 days, with a daily reminder.");
}

// form builds an inline form whose submit handler gets the named values.
function form(id, fields, label, onsubmit) {
  const f = el("form", { class: "toolbar inline", id }, fields, el("button", { type: "submit", class: "primary" }, label));
  f.addEventListener("focusin", () => { busy = true; });
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = {};
    for (const x of f.elements) if (x.name) v[x.name] = x.type === "password" ? x.value : x.value.trim();
    onsubmit(v, f);
  });
  return f;
}
const input = (name, label, attrs) => el("label", {}, label + " ", el("input", Object.assign({ name }, attrs || {})));
const roleSelect = (name, selected) => el("select", { name }, roles.map((r) => el("option", { value: r, selected: r === selected }, roleLabel(r))));

pages.members = async () => {
  const [users, usage] = await Promise.all([
    api("GET", `/v1/accounts/${acct()}/users`),
    optional("GET", `/v1/accounts/${acct()}/usage`),
  ]);
  const rows = (users || []).filter((u) => u.status !== "pending");
  const out = [el("h2", {}, `Members (${rows.length})`), seatSummary(usage)];
  if (canEdit()) out.push(form("add-member", [
    input("email", "Email", { type: "email", required: true, id: "add-member-email" }),
    el("label", {}, "Role ", roleSelect("role", "member")),
    input("password", "Password", { type: "password", autocomplete: "new-password", placeholder: "optional" }),
    input("teams", "Teams", { placeholder: "a, b" }),
  ], "Add member", (v) => act(`${v.email} added`, () => api("POST", `/v1/accounts/${acct()}/users`,
    { email: v.email, role: v.role, password: v.password || undefined, teams: v.teams ? v.teams.split(",").map((t) => t.trim()).filter(Boolean) : undefined }))));
  out.push(table("members", Object.assign([
    { title: "Email", get: (u) => u.email },
    { title: "Role", get: (u) => canEdit() ? roleChanger(u) : roleLabel(u.role) },
    { title: "Status", get: (u) => pill(u.status) },
    { title: "Seat", get: (u) => u.consumes_seat ? "yes" : el("span", { class: "muted" }, "no") },
    { title: "Teams", get: (u) => (u.teams || []).join(", ") },
    { title: "Plan", get: (u) => u.plan ? `${u.plan}${u.period_end ? " until " + when(u.period_end) : ""}` : "" },
    { title: "", get: (u) => canEdit() ? el("button", { class: "danger delete-member", "data-email": u.email, onclick: () => deleteMember(u) }, "Delete") : "" },
  ], { key: (u) => "user-" + u.email }), rows, "No members yet."));
  return out;
};

function roleChanger(u) {
  const sel = roleSelect("role", u.role);
  sel.classList.add("role-select");
  sel.addEventListener("focus", () => { busy = true; });
  sel.addEventListener("change", () => act(`${u.email} is now ${roleLabel(sel.value)}`,
    () => api("PUT", `/v1/accounts/${acct()}/users/${encodeURIComponent(u.email)}/role`, { role: sel.value })));
  return sel;
}

async function deleteMember(u) {
  if (!confirm(`Delete ${u.email}? ${u.consumes_seat ? "Their seat returns to the pool." : ""}`)) return;
  act(`${u.email} deleted`, () => api("DELETE", `/v1/accounts/${acct()}/users/${encodeURIComponent(u.email)}`));
}

pages.invitations = async () => {
  const [users, usage] = await Promise.all([
    api("GET", `/v1/accounts/${acct()}/users`),
    optional("GET", `/v1/accounts/${acct()}/usage`),
  ]);
  const rows = (users || []).filter((u) => u.status === "pending");
  const out = [el("h2", {}, `Pending invitations (${rows.length})`), seatSummary(usage)];
  if (canEdit() || teamAdmin()) out.push(form("invite", [
    input("email", "Email", { type: "email", required: true, id: "invite-email" }),
    canEdit() ? el("label", {}, "Role ", roleSelect("role", "member")) : null,
    input("teams", "Teams", teamAdmin() ? { value: state.adminOf.join(", "), required: true } : { placeholder: "a, b" }),
    input("expires_in", "Expires in", { value: "168h", size: 6 }),
  ], "Send invitation", (v) => act(`${v.email} invited`, () => api("POST", `/v1/accounts/${acct()}/invitations`,
    { email: v.email, role: v.role || undefined, expires_in: v.expires_in || undefined, teams: v.teams ? v.teams.split(",").map((t) => t.trim()).filter(Boolean) : undefined }))));
  out.push(el("p", { class: "muted small" }, "A pending invitation holds its seat until it is accepted, cancelled or expires."));
  out.push(table("invitations", Object.assign([
    { title: "Email", get: (u) => u.email },
    { title: "Role", get: (u) => roleLabel(u.role) },
    { title: "Teams", get: (u) => (u.teams || []).join(", ") },
    { title: "Expires", get: (u) => el("span", { title: when(u.invite_expires) }, ago(u.invite_expires)) },
    { title: "", get: (u) => canEdit() || ((u.teams || []).length && u.teams.every(canManageTeam)) ? el("button", { class: "danger cancel-invite", "data-email": u.email, onclick: () => {
      if (confirm(`Cancel the invitation of ${u.email}?`)) act(`Invitation of ${u.email} cancelled`, () => api("DELETE", `/v1/accounts/${acct()}/invitations/${encodeURIComponent(u.email)}`));
    } }, "Cancel") : "" },
  ], { key: (u) => "invite-" + u.email }), rows, "No pending invitations."));
  return out;
};

pages.teams = async () => {
  const [teams, users] = await Promise.all([
    api("GET", `/v1/accounts/${acct()}/teams`),
    api("GET", `/v1/accounts/${acct()}/users`),
  ]);
  const out = [el("h2", {}, `Teams (${(teams || []).length})`)];
  if (canEdit()) out.push(form("create-team", [input("name", "New team", { required: true, id: "create-team-name" })], "Create team",
    (v) => act(`Team ${v.name} created`, () => api("POST", `/v1/accounts/${acct()}/teams`, { name: v.name }))));
  const managed = (teams || []).filter((t) => canManageTeam(t.team));
  if (managed.length) {
    out.push(form("team-add", [
      el("label", {}, "Team ", el("select", { name: "team" }, managed.map((t) => el("option", { value: t.team }, t.team)))),
      el("label", {}, "Member ", el("select", { name: "email" }, (users || []).map((u) => el("option", { value: u.email }, u.email)))),
    ], "Add to team", (v) => act(`${v.email} added to ${v.team}`,
      () => api("PUT", `/v1/accounts/${acct()}/teams/${encodeURIComponent(v.team)}/members/${encodeURIComponent(v.email)}`))));
  }
  out.push(table("teams", Object.assign([
    { title: "Team", get: (t) => el("strong", {}, t.team) },
    { title: "Seats", class: "num", get: (t) => t.seats },
    { title: "Active", class: "num", get: (t) => t.active },
    { title: "Pending", class: "num", get: (t) => t.pending },
    { title: "Members", get: (t) => el("div", {}, (users || []).filter((u) => (u.teams || []).includes(t.team)).map((u) =>
      el("span", { class: "chip" }, u.email, teamAdminMark(u, t.team),
        canManageTeam(t.team) ? el("button", { class: "link remove-from-team", title: `Remove ${u.email} from ${t.team}`, onclick: () =>
        act(`${u.email} removed from ${t.team}`, () => api("DELETE", `/v1/accounts/${acct()}/teams/${encodeURIComponent(t.team)}/members/${encodeURIComponent(u.email)}`)) }, "×") : ""))) },
    { title: "", get: (t) => canEdit() ? el("button", { class: "danger delete-team", onclick: () => {
      if (confirm(`Delete team ${t.team}? Members in no other team become unassigned and keep their seat.`)) act(`Team ${t.team} deleted`, () => api("DELETE", `/v1/accounts/${acct()}/teams/${encodeURIComponent(t.team)}`));
    } }, "Delete") : "" },
  ], { key: (t) => "team-" + t.team }), teams, "No teams. A member in several teams holds one seat."));
  const unassigned = (users || []).filter((u) => u.status === "unassigned");
  if (unassigned.length) out.push(el("h2", {}, "Unassigned"), el("p", { class: "muted" }, "Out of every team but still holding a seat: ", unassigned.map((u) => u.email).join(", ")));
  return out;
};

// teamAdminMark shows whether u administers team; account administrators
// toggle it with a click.
function teamAdminMark(u, team) {
  const is = (u.admin_of || []).includes(team);
  if (!canEdit()) return is ? el("span", { class: "muted small", title: "team administrator" }, " ★") : "";
  return el("button", { class: "link team-admin-toggle", "data-email": u.email, title: is ? `${u.email} administers ${team}: click to stop` : `Make ${u.email} administrator of ${team}`,
    onclick: () => act(is ? `${u.email} no longer administers ${team}` : `${u.email} administers ${team}`,
      () => api(is ? "DELETE" : "PUT", `/v1/accounts/${acct()}/teams/${encodeURIComponent(team)}/admins/${encodeURIComponent(u.email)}`)) }, is ? "★" : "☆");
}

// ---------- audit
pages.audit = async () => {
  const type = (location.hash.split("?type=")[1] || "");
  const q = `account=${acct()}&order=newest&limit=200` + (type ? `&type=${encodeURIComponent(type)}` : "");
  const page = await api("GET", `/v1/audit?${q}`);
  const types = ["", "checkout", "release", "revoke", "reclaim", "members", "set_pool", "set_policy", "license", "import_assignments", "create_admin_token", "claim_notification"];
  const pick = el("select", { id: "audit-type" }, types.map((t) => el("option", { value: t, selected: t === type }, t || "every change")));
  pick.addEventListener("change", () => { location.hash = "#/audit" + (pick.value ? "?type=" + pick.value : ""); });
  return [
    el("h2", {}, "Audit log"),
    el("div", { class: "toolbar" }, el("label", {}, "Show ", pick),
      el("a", { href: `/v1/audit?account=${acct()}&format=csv`, id: "audit-csv", onclick: (e) => { e.preventDefault(); downloadAudit(); } }, "Export CSV")),
    table("audit", Object.assign([
      { title: "When", get: (r) => el("span", { title: r.time }, when(r.time)) },
      { title: "Who", get: (r) => el("code", { class: "small" }, r.actor || "") },
      { title: "What", get: (r) => r.summary },
      { title: "Outcome", get: (r) => r.outcome === "ok" ? pill("ok") : el("span", { class: "pill bad", title: r.code || "" }, r.outcome) },
    ], { key: (r) => "audit-" + r.seq }), page.records, "Nothing recorded for this account yet."),
    page.more ? el("p", { class: "muted small" }, "The latest 200 records; export the CSV or use tallyctl audit for all of them.") : null,
  ];
};
pages.audit.live = 5000;

// downloadAudit fetches the CSV with the bearer credential (a plain link
// could not send it) and saves it.
async function downloadAudit() {
  const res = await fetch(`/v1/audit?account=${acct()}&format=csv`, { headers: { Authorization: "Bearer " + state.token } });
  if (!res.ok) { flash("Export failed: " + res.status); return; }
  const a = el("a", { href: URL.createObjectURL(await res.blob()), download: `tally-audit-${state.account}.csv` });
  document.body.append(a); a.click(); a.remove();
}

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
