// The status page: reads the JSON endpoints a script would (/v1/admin/status,
// /v1/admin/coverage, /v1/admin/cost, /v1/tables, /health) with the admin
// token, and draws them. No framework, no CDN: the binary serves this file
// as it is.
"use strict";

// The colour of each coverage state; the browser test checks cells by it.
const COLOURS = {
  hot: "#1e88e5",
  archiving: "#fdd835",
  archived: "#2e7d32",
  failed: "#c62828",
  gap: "#8e24aa",
  no_data: "#e0e0e0",
  unknown: "#9e9e9e",
  expired: "#a1887f",
};
const KEY = "hotcold-token";

function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    let t = m[1];
    try { t = decodeURIComponent(t); } catch (e) { /* kept as typed */ }
    sessionStorage.setItem(KEY, t);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(KEY);
}

class AuthError extends Error {}

async function api(path) {
  const t = token();
  const r = await fetch(path, { headers: t ? { Authorization: "Bearer " + t } : {} });
  if (r.status === 401 || r.status === 403) throw new AuthError(await r.text());
  const body = await r.json().catch(() => ({}));
  if (!r.ok && path !== "/health") throw new Error(path + ": " + (body.error || r.status));
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function bytes(n) {
  if (n == null) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function duration(s) {
  if (s == null) return "-";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function time(ms) {
  return ms == null ? "none" : new Date(ms).toISOString().replace(".000Z", "Z");
}

function overview(status) {
  const dl = document.getElementById("overview");
  dl.replaceChildren();
  const row = (k, v, id) => {
    dl.append(el("dt", {}, k), el("dd", id ? { id } : {}, v));
  };
  const b = status.backlog || {};
  row("edition", status.edition);
  row("backlog", `${b.batches} batches, ${bytes(b.bytes)}`, "backlog");
  row("ETA", duration(b.eta_s), "eta");
  const l = status.link || {};
  if (l.in_process) {
    row("cold tier", "in this process");
  } else {
    row("link", l.connected ? "connected" : "down" + (l.unreachable ? ": " + l.unreachable.reason : ""), "link");
    const rate = bytes(Math.round(l.rate_bytes_per_s || 0)) + "/s";
    const limit = l.rate_limit_now ? ` of ${bytes(l.rate_limit_now)}/s now (bwlimit ${l.bwlimit})` : " (no limit)";
    row("link rate", rate + limit, "link-rate");
    row("last hour", chart(l.history || []), "link-history");
    row("sent", bytes(l.bytes_sent));
    if (l.deferred) row("deferred", l.deferred.reason);
    row("hot backup", backup(status.backup || {}), "backup");
  }
}

// The last hot backup to the NAS: how old, and a failure since, if any.
function backup(b) {
  const every = b.every_s ? ` (every ${duration(b.every_s)})` : " (off)";
  let text = b.last_ok_ms == null
    ? "none yet" + every
    : `${b.last_id}, ${duration(Math.round(b.age_s))} ago, ${b.rows} rows${every}`;
  if (b.last_error_ms != null && (b.last_ok_ms == null || b.last_error_ms > b.last_ok_ms)) {
    text += `; last try failed: ${b.last_error}`;
  }
  return text;
}

// A health component's detail in words: stuck batches by day and why,
// other objects as "key value" pairs.
function describe(d) {
  if (d == null || typeof d !== "object") return String(d);
  if (Array.isArray(d.stuck)) {
    return d.stuck.map((b) => `${b.table} ${time(b.window.start).slice(0, 10)} ${b.state}: ${b.why || b.error}`).join("; ");
  }
  return Object.entries(d)
    .filter(([, v]) => v !== null && v !== false)
    .map(([k, v]) => `${k.replace(/_/g, " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ");
}

// The link's last hour, minute by minute: the rate sent (a line) against
// the limit in force (dashed), drawn as SVG. data-bytes is what the
// minutes add up to, for the browser test.
function chart(history) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 360, h = 60;
  const top = Math.max(1, ...history.map((p) => Math.max(p.rate, p.limit || 0))) * 1.1;
  const x = (i) => ((i / Math.max(1, history.length - 1)) * w).toFixed(1);
  const y = (v) => (h - (v / top) * h).toFixed(1);
  const svg = document.createElementNS(ns, "svg");
  const total = history.reduce((a, p) => a + p.rate * 60, 0);
  for (const [k, v] of Object.entries({ width: w, height: h, class: "chart",
    "data-points": history.length, "data-bytes": Math.round(total) })) svg.setAttribute(k, v);
  const line = (pts, cls) => {
    const p = document.createElementNS(ns, "polyline");
    p.setAttribute("points", pts.join(" "));
    p.setAttribute("class", cls);
    svg.append(p);
  };
  line(history.map((p, i) => `${x(i)},${y(p.rate)}`), "rate");
  if (history.some((p) => p.limit)) line(history.map((p, i) => `${x(i)},${y(p.limit || 0)}`), "limit");
  const peak = Math.max(0, ...history.map((p) => p.rate));
  const span = el("span", {}, svg, ` peak ${bytes(Math.round(peak))}/s a minute`);
  return span;
}

function alerts(health) {
  const s = document.getElementById("alerts");
  s.replaceChildren();
  for (const [name, c] of Object.entries(health.components || {})) {
    if (c.status === "healthy") continue;
    const detail = describe(c.detail);
    s.append(el("div", { class: "alert " + c.status, "data-component": name }, `${name}: ${c.status}: ${detail}`));
  }
}

function legend() {
  const d = document.getElementById("legend");
  d.replaceChildren();
  for (const [state, colour] of Object.entries(COLOURS)) {
    d.append(el("span", {}, el("i", { style: "background:" + colour }), state.replace("_", " ")));
  }
  d.append(el("span", {}, el("i", { style: "outline:2px solid #ef6c00;outline-offset:-2px" }), "suspected collector gap"));
}

function calendar(table, cov, watermark) {
  const box = el("div", { class: "table", "data-table": table });
  const meta = el("span", { class: "meta" },
    `watermark ${time(watermark)} · ${cov.hot_rows} rows hot · ${cov.cold_rows} rows cold` +
    (cov.cold_error ? " · cold not asked: " + cov.cold_error : ""));
  box.append(el("h3", {}, table, meta));
  const grid = el("div", { class: "calendar" });
  // Weeks as columns, Monday first, as calendars show them.
  const first = new Date(cov.buckets.length ? cov.buckets[0].start : 0);
  for (let i = 0; i < (first.getUTCDay() + 6) % 7; i++) grid.append(el("div", { class: "cell pad" }));
  for (const b of cov.buckets) {
    const cold = b.cold_rows == null ? "-" : b.cold_rows;
    grid.append(el("div", {
      class: "cell" + (b.suspected_gap ? " suspected" : ""),
      "data-label": b.label,
      "data-state": b.state,
      "data-hot": b.hot_rows,
      "data-cold": cold,
      "data-suspected": b.suspected_gap,
      style: "background:" + (COLOURS[b.state] || "#000"),
      title: `${b.label}: ${b.state}, ${b.hot_rows} hot, ${cold} cold` + (b.suspected_gap ? " (suspected collector gap)" : ""),
    }));
  }
  box.append(grid);
  const n = cov.buckets.length;
  if (n) box.append(el("div", { class: "range" }, `${cov.buckets[0].label} to ${cov.buckets[n - 1].label}, Monday at the top; hover a day for its counts`));
  return box;
}

// Each figure carries its raw value (data-value) beside the words, so
// what is drawn can be checked against /v1/admin/cost.
function cost(c) {
  const dl = document.getElementById("cost");
  dl.replaceChildren();
  const cur = c.currency ? " " + c.currency : "";
  const money = (x) => (x == null ? "-" : x.toFixed(2) + cur);
  const row = (k, id, value, words) => {
    dl.append(el("dt", {}, k), el("dd", { id, "data-value": value }, words));
  };
  row("hot, cloud disk", "cost-hot-bytes", c.hot.bytes, `${bytes(c.hot.bytes)}, ${c.hot.rows} rows`);
  row("NAS, archived", "cost-nas-bytes", c.nas.bytes, `${bytes(c.nas.bytes)}, ${c.nas.rows} rows`);
  row("link, last 30 days", "cost-link-bytes", c.link.last_30_days_bytes, bytes(c.link.last_30_days_bytes));
  if (c.monthly) {
    const m = c.monthly;
    row("per month", "cost-monthly", m.total,
      `${money(m.total)} (cloud disk ${money(m.cloud_disk)}, egress ${money(m.egress)}, NAS ${money(m.nas)})`);
  } else {
    row("per month", "cost-monthly", "", "no prices configured (cost: in the config)");
  }
  const all = c.all_in_cloud;
  row("all in the cloud", "cost-all-cloud", all.monthly == null ? "" : all.monthly,
    `${bytes(all.bytes)} on the cloud disk, ${money(all.monthly)} per month`);
}

function batches(status) {
  const body = document.querySelector("#batches tbody");
  body.replaceChildren();
  for (const r of status.recent_batches || []) {
    const day = time(r.window.start).slice(0, 10);
    body.append(el("tr", { "data-batch": r.batch_id },
      el("td", {}, r.table), el("td", {}, day), el("td", { class: r.state }, r.state),
      el("td", {}, r.hot ? String(r.hot.rows) : "-"), el("td", {}, bytes(r.bytes)),
      el("td", {}, r.error || "")));
  }
}

async function render() {
  const main = document.getElementById("main");
  const login = document.getElementById("login");
  try {
    const [status, tables, health, costs] = await Promise.all([
      api("/v1/admin/status"), api("/v1/tables"), api("/health"), api("/v1/admin/cost"),
    ]);
    const names = tables.tables.map((t) => t.name);
    // One table's failure (its cold count, say) shows on that table only.
    const covs = await Promise.allSettled(names.map((n) => api("/v1/admin/coverage?table=" + encodeURIComponent(n))));
    const denied = covs.find((c) => c.status === "rejected" && c.reason instanceof AuthError);
    if (denied) throw denied.reason;
    overview(status);
    alerts(health);
    legend();
    const list = document.getElementById("tables");
    list.replaceChildren(...names.map((n, i) => covs[i].status === "fulfilled"
      ? calendar(n, covs[i].value, (status.watermarks || {})[n])
      : el("div", { class: "table error", "data-table": n }, `${n}: ${covs[i].reason.message || covs[i].reason}`)));
    batches(status);
    cost(costs);
    login.hidden = true;
    main.hidden = false;
    document.getElementById("error").hidden = true;
    document.getElementById("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + "Z";
  } catch (e) {
    if (e instanceof AuthError) {
      main.hidden = true;
      login.hidden = false;
      if (sessionStorage.getItem(KEY)) document.getElementById("login-error").textContent = "that token was refused";
    } else {
      const p = document.getElementById("error");
      p.textContent = String(e.message || e);
      p.hidden = false;
    }
  }
  document.body.setAttribute("data-ready", "true");
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("token").value);
  render();
});
render();
setInterval(render, 30000);
