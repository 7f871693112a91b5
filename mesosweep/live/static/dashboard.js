// The live page of a mesosweep sweep: polls api/status (the same dict as
// `mesosweep status STORE --json`) and redraws. Every value from the store is set as text,
// never parsed as HTML: error messages and LAMMPS logs are untrusted text.
"use strict";

const STATES = ["queued", "running", "done", "failed"];
const SVG = "http://www.w3.org/2000/svg";
const TIMELINE_ROWS = 60; // newest finished realisations drawn; older ones are summarised

const params = new URLSearchParams(window.location.search);
const clientId = Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
let refreshS = null; // from ?refresh=, else the server's
let lastOk = null; // Date of the last answer
let failuresOpen = new Set(); // failures the reader expanded stay expanded across redraws

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "unknown";
  if (s < 9.95) return `${Math.max(0, s).toFixed(1)} s`; // short stages: keep a decimal
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function clock(date) { return date.toLocaleTimeString([], { hour12: false }); }

function setLive(state, text) {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = text;
}

function renderTotals(d) {
  const t = d.totals;
  for (const s of STATES) $(`total-${s}`).textContent = t[s];
  $("running-what").textContent = t.stale ? `running · ${t.stale} stale` : "running";
  document.querySelector(".tile.failed").classList.toggle("nonzero", t.failed > 0);
  let eta, rate;
  if (d.driver_gone) eta = "driver gone";
  else if (d.complete) eta = "finished";
  else if (d.eta_s !== null) eta = `${duration(d.eta_s)} left`;
  else eta = "ETA unknown";
  if (d.throughput_per_hour) {
    rate = `${d.throughput_per_hour.toPrecision(3)} realisations/h (last ${d.throughput_window} done)`;
    if (!d.complete && d.eta_at) rate += ` · ends ≈ ${clock(new Date(d.eta_at))}`;
  } else {
    rate = d.complete ? "nothing queued or running" : "known once a realisation is done";
  }
  $("eta").textContent = eta;
  $("throughput").textContent = rate;
}

function renderCases(d) {
  const box = $("cases");
  box.replaceChildren();
  for (const c of d.cases) {
    const r = c.realisations;
    const bar = el("div", { class: "bar", role: "img",
      "aria-label": `${c.case}: ${r.done} done, ${r.failed} failed, ${r.running} running, ${r.queued} queued` });
    for (const s of ["done", "failed", "running", "stale", "queued"]) {
      if (!r[s]) continue;
      const seg = el("span", { class: `seg-${s}`, title: `${r[s]} ${s}` });
      seg.style.width = `${(100 * r[s]) / c.total}%`;
      bar.append(seg);
    }
    const parts = [`${r.done} / ${c.total} done`];
    if (r.failed) parts.push(`${r.failed} failed`);
    if (r.running) parts.push(`${r.running} running`);
    if (r.stale) parts.push(`${r.stale} stale`);
    if (r.queued) parts.push(`${r.queued} queued`);
    box.append(el("div", { class: "case", dataset: { case: c.case } },
      el("div", { class: "name", title: c.case }, c.case), bar,
      el("div", { class: "text" }, parts.join(" · "))));
  }
}

function countCells(tr, caseName, stage, counts, mean, states) {
  for (const s of states) {
    const n = counts[s];
    tr.append(el("td", { class: `num ${s}${n ? "" : " zero"}`,
      dataset: { case: caseName, stage: stage, state: s } }, n));
  }
  tr.append(el("td", { class: "num" }, mean === null || mean === undefined ? "–" : duration(mean)));
}

function renderTable(d) {
  const body = document.querySelector("#stage-table tbody");
  body.replaceChildren();
  // A column for stale realisations only while there are some (the driver is gone).
  const states = d.totals.stale ? [...STATES, "stale"] : STATES;
  $("stale-head").hidden = !d.totals.stale;
  $("stale-legend").hidden = !d.totals.stale;
  for (const c of d.cases) {
    const first = el("tr", { class: "real" },
      el("td", { class: "case-name", rowspan: String(1 + d.stages.length) }, c.case),
      el("td", {}, "realisations"));
    countCells(first, c.case, "realisations", c.realisations, c.mean_wall_s, states);
    body.append(first);
    for (const stage of d.stages) {
      const tr = el("tr", {}, el("td", {}, stage));
      countCells(tr, c.case, stage, c.stages[stage], c.stages[stage].mean_wall_s, states);
      body.append(tr);
    }
  }
}

// A running stage's progress, as `mesosweep status` words it (ensemble.status.progress_line).
function progressText(p) {
  const parts = [`${p.steps}/${p.max_steps} steps`];
  if (p.quantity !== null && p.value !== null) {
    let rule = "";
    if (p.change !== null && p.tolerance) {
      const what = p.rule === "extrapolated" ? "still to come" : "change";
      rule = `, ${what} ${pct(p.change)} (tolerance ${pct(p.tolerance)}, ${p.calm}/${p.patience} settled)`;
    }
    parts.push(`${p.quantity} ${p.value.toPrecision(4)} ${p.units}`.trim() + rule);
  }
  parts.push(p.remaining_s !== null ? `at most ${duration(p.remaining_s)} left` : "time left unknown");
  return parts.join(" · ");
}

function pct(x) { return isFinite(x) ? `${Number((100 * x).toPrecision(2))}%` : "∞"; }

function renderRunning(d) {
  const ul = $("running");
  ul.replaceChildren();
  const stale = d.stale || [];
  if (!d.running.length && !stale.length) {
    ul.append(el("li", { class: "none" }, d.complete ? "nothing: the sweep is finished" : "nothing yet"));
    return;
  }
  for (const r of [...d.running, ...stale]) {
    const isStale = stale.includes(r);
    const where = [r.host && `on ${r.host}`, r.job_id && `job ${r.job_id}`].filter(Boolean).join(", ");
    const li = el("li", { dataset: { label: r.label } }, el("strong", {}, r.label), " ",
      el("span", { class: isStale ? "stage-pill stale" : "stage-pill" },
        isStale ? `stale in ${r.stage || "?"}` : r.stage || "starting"),
      ` stage ${Math.min(r.stages_done + 1, r.stages_total)} of ${r.stages_total} · for ${duration(r.elapsed_s)}`,
      r.attempt > 1 ? ` · attempt ${r.attempt}` : "", where ? ` · ${where}` : "");
    for (const p of isStale ? [] : r.stages_in_flight || []) {
      const meter = el("meter", { min: "0", max: String(Math.max(p.max_steps, 1)), value: String(p.steps) });
      li.append(el("div", { class: "progress" }, meter, `${p.stage}: ${progressText(p)}`));
    }
    ul.append(li);
  }
  const more = d.running_total + (d.stale_total || 0) - d.running.length - stale.length;
  if (more > 0) ul.append(el("li", { class: "none" }, `… and ${more} more`));
}

function renderDriver(d) {
  const box = $("driver");
  box.hidden = !d.driver_gone;
  if (!d.driver_gone) return;
  const since = d.driver_gone_since ? ` since ${new Date(d.driver_gone_since).toLocaleString()}` : " (no lease)";
  box.textContent = `Driver gone${since}: the ${d.stale_total} realisation(s) it had in flight ` +
    "are stale, not running. Rerun the sweep's command to resume.";
}

function renderDask(d) {
  const nav = $("dask");
  nav.replaceChildren();
  const pages = d.page.dask_pages;
  if (!pages.length) {
    nav.append(el("p", { class: "none" },
      `No Dask cluster: this page is served by ${d.page.served_by}, from the store alone.`));
    return;
  }
  for (const p of pages) nav.append(el("a", { href: p.url, target: "_blank", rel: "noopener" }, p.name));
  nav.append(el("p", { class: "hint" }, `Dask's own dashboard: ${d.page.dask_dashboard} ` +
    "(through a tunnel, forward its port too: see the command the sweep printed)."));
}

function renderTimeline(d) {
  const box = $("timeline-box");
  box.replaceChildren();
  const now = d.now;
  const rows = d.timeline.slice(-TIMELINE_ROWS).map((t) => ({ ...t }));
  for (const r of d.running) {
    if (r.started_at) rows.push({ label: r.label, status: "running", start: Date.parse(r.started_at) / 1000, end: now });
  }
  const shown = rows.length;
  $("timeline-note").textContent = d.timeline_total > TIMELINE_ROWS
    ? `The latest ${TIMELINE_ROWS} of ${d.timeline_total} finished realisations, and those running; times in your local time.`
    : "One bar per realisation, from its start to its end (running ones up to now); times in your local time.";
  if (!shown) {
    box.append(el("p", { class: "none" }, "No realisation has finished yet."));
    return;
  }
  const starts = rows.map((r) => (r.start === null ? r.end : r.start));
  let t0 = Math.min(...starts), t1 = Math.max(...rows.map((r) => r.end));
  if (t1 - t0 < 1) t1 = t0 + 1;
  // Room on the left for the longest label (about 7 px a character at 11 px), within reason.
  const longest = Math.max(...rows.map((r) => r.label.length));
  const width = Math.max(box.clientWidth || 900, 400), right = 16, rowH = 16, top = 6;
  const left = Math.min(Math.max(90, 12 + 7 * longest), width / 3);
  const height = top + shown * rowH + 26;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, height: String(height), role: "img",
    "aria-label": "timeline of realisations" });
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks, xi = x(t);
    root.append(svg("line", { class: "grid", x1: xi, x2: xi, y1: top, y2: top + shown * rowH }));
    root.append(svg("text", { x: xi, y: height - 8, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" },
      clock(new Date(t * 1000))));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top + shown * rowH, y2: top + shown * rowH }));
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const s = r.start === null ? r.end : r.start;
    root.append(svg("text", { class: "label", x: left - 8, y: y + 11.5, "text-anchor": "end" }, r.label));
    const rect = svg("rect", { x: x(s), y: y + 2, width: Math.max(x(r.end) - x(s), 2), height: rowH - 4,
      rx: 2, class: `span ${r.status}`, "data-status": r.status });
    rect.append(svg("title", {}, `${r.label}: ${r.status}, ${duration(r.end - s)}${r.host ? ` on ${r.host}` : ""}`));
    root.append(rect);
  });
  box.append(root);
}

function renderFailures(d) {
  const box = $("failures");
  // Keep what the reader opened: a redraw every few seconds must not fold it away.
  for (const node of box.querySelectorAll("details")) {
    if (node.open) failuresOpen.add(node.dataset.label); else failuresOpen.delete(node.dataset.label);
  }
  box.replaceChildren();
  $("failed-count").textContent = d.failed_total ? `(${d.failed_total})` : "";
  if (!d.failed_total) {
    box.append(el("p", { class: "none" }, "No failed realisation."));
    return;
  }
  if (d.failed_total > d.failures.length) {
    box.append(el("p", { class: "hint" }, `The latest ${d.failures.length} of ${d.failed_total}; the store's 'error' variable has all.`));
  }
  for (const f of d.failures.slice().reverse()) {
    const where = [f.host && `host ${f.host}`, f.job_id && `job ${f.job_id}`].filter(Boolean).join(", ");
    const details = el("details", { class: "failure", dataset: { label: f.label } },
      el("summary", {}, el("strong", {}, f.label),
        ` failed in ${f.stage || "an unknown stage"} after ${f.attempts} attempt(s)`,
        f.finished_at ? ` at ${clock(new Date(f.finished_at))}` : "", where ? ` · ${where}` : ""),
      el("div", { class: "err" }, f.error || "(no error recorded)"));
    details.append(f.log_tail
      ? el("pre", { "aria-label": "last lines of the stage's log" }, f.log_tail)
      : el("p", { class: "none" }, "No log tail recorded."));
    details.open = failuresOpen.has(f.label) || d.failures.length <= 3;
    box.append(details);
  }
}

function render(d) {
  $("sweep-name").textContent = d.sweep ? `· sweep ${d.sweep}` : "";
  $("store").textContent = d.store || "";
  document.title = `${d.totals.done}/${d.totals.total} done · mesosweep ${d.sweep || ""}`;
  renderDriver(d);
  renderTotals(d);
  renderCases(d);
  renderTable(d);
  renderRunning(d);
  renderDask(d);
  renderTimeline(d);
  renderFailures(d);
}

async function poll() {
  let next;
  try {
    const url = `api/status?client=${clientId}&refresh=${refreshS === null ? "" : refreshS}`;
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const d = await response.json();
    if (refreshS === null) {
      const asked = parseFloat(params.get("refresh"));
      refreshS = isFinite(asked) ? Math.min(Math.max(asked, 0.25), 600) : d.page.refresh_s;
    }
    lastOk = new Date();
    if (d.totals) render(d);
    if (d.page.final) {
      setLive("final", `sweep ended · final state at ${clock(lastOk)}`);
      return; // the driver stops serving now: nothing more will come
    }
    if (d.stale) setLive("stale", `store unreadable (${d.read_error}) · showing earlier data`);
    else setLive("live", `live · updated ${clock(lastOk)} · every ${refreshS} s`);
    next = refreshS;
  } catch (err) {
    setLive("offline", lastOk
      ? `no answer since ${clock(lastOk)}: the sweep's driver stopped? \`mesosweep status STORE\` still reads the store`
      : "no answer from the sweep's driver");
    next = Math.max(refreshS || 2, 5);
  }
  setTimeout(poll, next * 1000);
}

poll();
