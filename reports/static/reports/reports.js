/* The reports page: reads /api/v1/reports/ (session + X-Kefu-Merchant), draws the figures with
   Chart.js (vendored, window.Chart) and the heat map as a table, and downloads every table as
   CSV or XLSX. Every name from the server (agents, labels, pages) is set as text. */

const gettext = window.gettext || ((s) => s);
const fmt = window.interpolate || ((s, args) => s.replace(/%s/g, () => args.shift()));

const root = document.getElementById("reports");
const MERCHANT = root.dataset.merchantId;
const API = "/api/v1/reports/";
const state = { from: null, to: null, by: "agent" };

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
};

async function get(path, params) {
  const response = await fetch(`${API}${path}?${new URLSearchParams(params)}`, {
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Kefu-Merchant": MERCHANT },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(`HTTP ${response.status}`);
    error.body = body;
    throw error;
  }
  return body;
}

// --- Formatting ----------------------------------------------------------------------------

const NUMBER = new Intl.NumberFormat(document.documentElement.lang || undefined);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return fmt(gettext("%s s"), [seconds]);
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return s ? fmt(gettext("%s min %s s"), [m, s]) : fmt(gettext("%s min"), [m]);
  }
  if (seconds < 86400) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return m ? fmt(gettext("%s h %s min"), [h, m]) : fmt(gettext("%s h"), [h]);
  }
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  return h ? fmt(gettext("%s d %s h"), [d, h]) : fmt(gettext("%s d"), [d]);
}
const percent = (v) => (v === null || v === undefined ? "–" : `${v}%`);
const count = (v) => NUMBER.format(v);
const score = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));

// --- Key figures with the change against the previous period --------------------------------

// better: +1 when a rise is good, -1 when a fall is good (times, missed), 0 neutral.
const KPIS = [
  { key: "started", label: gettext("Conversations started"), show: count, better: 0 },
  { key: "answered", label: gettext("Answered by an agent"), show: count, better: 1,
    sub: (c) => fmt(gettext("%s of started"), [percent(c.answer_rate)]) },
  { key: "missed", label: gettext("Missed"), show: count, better: -1,
    sub: (c) => fmt(gettext("%s of started"), [percent(c.missed_rate)]) },
  { key: "first_response_median", label: gettext("First response (median)"), show: duration,
    better: -1, sub: (c) => fmt(gettext("90% within %s"), [duration(c.first_response_p90)]) },
  { key: "resolution_median", label: gettext("Resolution time (median)"), show: duration,
    better: -1, sub: (c) => fmt(gettext("90% within %s"), [duration(c.resolution_p90)]) },
  { key: "satisfaction", label: gettext("Satisfaction (1–5)"), show: score, better: 1,
    sub: (c) => fmt(gettext("%s ratings, %s satisfied"), [count(c.rated), percent(c.satisfied_share)]) },
  { key: "bot_resolved_share", label: gettext("Resolved by the bot"), show: percent, better: 1,
    sub: (c) => fmt(gettext("%s conversations"), [count(c.bot_resolved)]) },
  { key: "handover_rate", label: gettext("Bot hand-over rate"), show: percent, better: -1,
    sub: (c) => fmt(gettext("%s of %s the bot answered"), [count(c.handed_over), count(c.bot_handled)]) },
];

function change(now, before, better, points) {
  if (now === null || before === null || now === undefined || before === undefined) return null;
  if (now === before) return { text: gettext("no change"), tone: "same" };
  const diff = now - before;
  const arrow = diff > 0 ? "▲" : "▼";
  let text;
  if (points) {
    // A share moves in percentage points: 5.7% to 7.2% is "1.5 points", not "26%".
    text = `${arrow} ${fmt(gettext("%s pts"), [Math.abs(diff).toFixed(1)])}`;
  } else {
    text = before ? `${arrow} ${Math.abs(Math.round((100 * diff) / Math.abs(before)))}%` : arrow;
  }
  const tone = better === 0 ? "same" : (diff > 0) === (better > 0) ? "good" : "bad";
  return { text, tone };
}

function drawKpis(summary) {
  const box = document.getElementById("kpis");
  box.replaceChildren();
  for (const kpi of KPIS) {
    const now = summary.current[kpi.key];
    const before = summary.previous[kpi.key];
    const delta = change(now, before, kpi.better, kpi.show === percent);
    const card = el("div", { className: "kpi" },
      el("div", { className: "kpi-label", textContent: kpi.label }),
      el("div", { className: "kpi-value", textContent: kpi.show(now) }));
    card.dataset.kpi = kpi.key;
    if (kpi.sub) card.append(el("div", { className: "kpi-sub", textContent: kpi.sub(summary.current) }));
    const prev = el("div", { className: "kpi-prev" });
    prev.append(fmt(gettext("Before: %s"), [kpi.show(before)]));
    if (delta) prev.append(" ", el("span", { className: `delta delta-${delta.tone}`, textContent: delta.text }));
    card.append(prev);
    box.append(card);
  }
  drawAllFigures(summary);
  const p = summary.previous_period;
  document.getElementById("compare").textContent = fmt(
    gettext("%s to %s, compared with the %s days before (%s to %s)."),
    [summary.period.start, summary.period.end, summary.daily.length, p.start, p.end],
  );
}

function drawAllFigures(summary) {
  const p = summary.previous_period;
  const head = el("tr", {}, el("th", { scope: "col" }),
    el("th", { scope: "col", className: "num", textContent: `${summary.period.start} – ${summary.period.end}` }),
    el("th", { scope: "col", className: "num", textContent: `${p.start} – ${p.end}` }));
  const rows = [...COUNT_ROWS, ...COLUMNS.filter(([key]) => !COUNT_ROWS.some(([k]) => k === key))]
    .map(([key, label, show]) => el("tr", {}, el("th", { scope: "row", textContent: label }),
      el("td", { className: "num", textContent: show(summary.current[key]) }),
      el("td", { className: "num", textContent: show(summary.previous[key]) })));
  document.getElementById("all-figures").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

// --- Charts -------------------------------------------------------------------------------------

const COLOURS = { answered: "#2563eb", bot_resolved: "#10b981", missed: "#ef4444", waiting: "#f59e0b" };
const charts = {};

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart(document.getElementById(id), config);
  return charts[id];
}

function drawDaily(summary) {
  const series = [
    ["answered", gettext("Answered")], ["bot_resolved", gettext("Resolved by the bot")],
    ["missed", gettext("Missed")], ["waiting", gettext("Waiting")],
  ];
  const many = summary.daily.length > 31;
  chart("daily-chart", {
    type: "bar",
    data: {
      labels: summary.daily.map((d) => d.day.slice(5)),
      datasets: series.map(([key, label]) => ({
        label, data: summary.daily.map((d) => d[key]), backgroundColor: COLOURS[key],
        borderWidth: 0, barPercentage: many ? 1 : 0.8, categoryPercentage: many ? 1 : 0.8,
      })),
    },
    options: {
      maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  });
}

function drawReasons(summary) {
  const empty = summary.reasons.length === 0;
  document.getElementById("reasons-empty").hidden = !empty;
  document.getElementById("reasons-chart").parentElement.hidden = empty;
  if (empty) return;
  chart("reasons-chart", {
    type: "bar",
    data: {
      labels: summary.reasons.map((r) => r.label.charAt(0).toUpperCase() + r.label.slice(1)),
      datasets: [{ label: gettext("Handed over"), data: summary.reasons.map((r) => r.count),
                   backgroundColor: "#8b5cf6", borderWidth: 0 }],
    },
    options: {
      indexAxis: "y", maintainAspectRatio: false, animation: false,
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } },
      plugins: { legend: { display: false } },
    },
  });
}

const WEEKDAYS = [gettext("Mon"), gettext("Tue"), gettext("Wed"), gettext("Thu"), gettext("Fri"),
                  gettext("Sat"), gettext("Sun")];

function drawHeatmap(summary) {
  const table = document.getElementById("heatmap");
  const max = Math.max(1, ...summary.heatmap.flat());
  const head = el("tr", {}, el("th", { scope: "col" }));
  for (let h = 0; h < 24; h++) head.append(el("th", { scope: "col", textContent: String(h) }));
  const rows = summary.heatmap.map((hours, w) => {
    const tr = el("tr", {}, el("th", { scope: "row", textContent: WEEKDAYS[w] }));
    hours.forEach((n, h) => {
      const td = el("td", { textContent: n ? String(n) : "" });
      const level = n / max;
      td.style.background = n ? `rgba(37, 99, 235, ${0.08 + 0.82 * level})` : "";
      if (level > 0.55) td.className = "hot";
      td.title = fmt(gettext("%s %s:00–%s:59: %s conversations"), [WEEKDAYS[w], h, h, n]);
      tr.append(td);
    });
    return tr;
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

// --- Breakdown table ----------------------------------------------------------------------------

const COLUMNS = [
  ["started", gettext("Started"), count],
  ["answered", gettext("Answered"), count],
  ["missed", gettext("Missed"), count],
  ["answer_rate", gettext("Answer rate"), percent],
  ["first_response_median", gettext("First response (median)"), duration],
  ["first_response_p90", gettext("First response (p90)"), duration],
  ["resolution_median", gettext("Resolution (median)"), duration],
  ["resolution_p90", gettext("Resolution (p90)"), duration],
  ["satisfaction", gettext("Satisfaction"), score],
  ["bot_resolved_share", gettext("Bot-resolved"), percent],
  ["handover_rate", gettext("Hand-over rate"), percent],
];
const COUNT_ROWS = [
  ["started", gettext("Started"), count],
  ["answered", gettext("Answered"), count],
  ["bot_resolved", gettext("Resolved by the bot"), count],
  ["missed", gettext("Missed"), count],
  ["waiting", gettext("Waiting"), count],
  ["handed_over", gettext("Handed over"), count],
  ["rated", gettext("Ratings"), count],
];
const BY = { agent: gettext("Agent"), team: gettext("Team"), label: gettext("Label"),
             source: gettext("Channel"), page: gettext("Page") };

function drawBreakdown(data) {
  const table = document.getElementById("breakdown");
  document.getElementById("breakdown-empty").hidden = data.rows.length > 0;
  table.hidden = data.rows.length === 0;
  const head = el("tr", {}, el("th", { scope: "col", textContent: BY[data.by] }),
    ...COLUMNS.map(([, label]) => el("th", { scope: "col", className: "num", textContent: label })));
  const rows = data.rows.map((row) => {
    const name = el("th", { scope: "row", textContent: row.name, title: row.name });
    if (row.colour) name.prepend(el("span", { className: "swatch", style: `background:${/^#[0-9a-f]{6}$/i.test(row.colour) ? row.colour : "#64748b"}` }));
    return el("tr", {}, name,
      ...COLUMNS.map(([key, , show]) => el("td", { className: "num", textContent: show(row[key]) })));
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

// --- Exports: fetched with the merchant header, saved as a file -------------------------------

function exportButtons() {
  for (const holder of document.querySelectorAll(".exports")) {
    holder.replaceChildren(
      ...["csv", "xlsx"].map((file) => {
        const button = el("button", { type: "button", className: "export", textContent: file.toUpperCase() });
        button.title = fmt(gettext("Download this table as %s"), [file.toUpperCase()]);
        button.addEventListener("click", () => download(holder.dataset.table, file));
        return button;
      }),
    );
  }
}

async function download(table, file) {
  const params = new URLSearchParams({ from: state.from, to: state.to, table, file });
  const response = await fetch(`${API}export/?${params}`, {
    credentials: "same-origin", headers: { "X-Kefu-Merchant": MERCHANT },
  });
  if (!response.ok) return showError(gettext("The export failed. Try again."));
  const blob = await response.blob();
  const link = el("a", { href: URL.createObjectURL(blob), download: `report-${table}-${state.from}-${state.to}.${file}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// --- The range and loading --------------------------------------------------------------------

function showError(text) {
  const box = document.getElementById("range-error");
  box.textContent = text || "";
  box.hidden = !text;
}

function isoDay(date) {
  // The merchant's "today": the browser may sit in another zone.
  return new Intl.DateTimeFormat("en-CA", { timeZone: root.dataset.timeZone }).format(date);
}

function lastDays(days) {
  const to = isoDay(new Date());
  const start = new Date(`${to}T00:00:00Z`);
  start.setUTCDate(start.getUTCDate() - (days - 1));
  return { from: start.toISOString().slice(0, 10), to };
}

async function load() {
  showError("");
  const params = { from: state.from, to: state.to };
  const url = new URL(window.location);
  url.searchParams.set("from", state.from);
  url.searchParams.set("to", state.to);
  window.history.replaceState(null, "", url);
  try {
    const summary = await get("summary/", params);
    drawKpis(summary);
    drawDaily(summary);
    drawReasons(summary);
    drawHeatmap(summary);
    await loadBreakdown();
    root.dataset.loaded = `${state.from}/${state.to}`;
  } catch (error) {
    const fields = error.body || {};
    const message = (fields.from || fields.to || [])[0] || fields.detail;
    showError(message || gettext("The report could not be loaded. Try again."));
  }
}

async function loadBreakdown() {
  const data = await get("breakdown/", { from: state.from, to: state.to, by: state.by });
  drawBreakdown(data);
  document.getElementById("breakdown-exports").dataset.table = state.by;
}

function setRange(range) {
  state.from = range.from;
  state.to = range.to;
  document.getElementById("range-from").value = range.from;
  document.getElementById("range-to").value = range.to;
  for (const b of document.querySelectorAll(".preset")) {
    b.classList.toggle("active", JSON.stringify(lastDays(Number(b.dataset.days))) === JSON.stringify(range));
  }
}

function start() {
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#4b5563";
  const query = new URLSearchParams(window.location.search);
  setRange(query.get("from") && query.get("to")
    ? { from: query.get("from"), to: query.get("to") } : lastDays(30));
  document.getElementById("range").addEventListener("submit", (event) => {
    event.preventDefault();
    setRange({ from: document.getElementById("range-from").value, to: document.getElementById("range-to").value });
    load();
  });
  for (const button of document.querySelectorAll(".preset")) {
    button.addEventListener("click", () => { setRange(lastDays(Number(button.dataset.days))); load(); });
  }
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tabs [role=tab]")) t.setAttribute("aria-selected", String(t === tab));
      state.by = tab.dataset.by;
      loadBreakdown().catch(() => showError(gettext("The report could not be loaded. Try again.")));
    });
  }
  exportButtons();
  load();
}

// The deferred classic scripts (catalogue, Chart.js) ran before this module.
start();
