// Sessions page: histogram (drag to zoom), sortable and paged table of the chosen columns, expandable
// detail with clickable values.
"use strict";
(() => {
  const { api, el, time, bytes, state, setState, queryString, urlTime } = Fk;
  const table = document.getElementById("sessions");
  const tbody = table.querySelector("tbody");
  const columns = Columns.chosen();
  let plot = null;
  let lastGraph = null;

  table.querySelector("thead tr").replaceChildren(...columns.map(Columns.heading));
  table.querySelectorAll("th[data-sort] button").forEach((b) => b.addEventListener("click", () => {
    const field = b.parentElement.dataset.sort;
    const [cur, dir] = state().order.split(":");
    setState({ order: `${field}:${cur === field && dir === "desc" ? "asc" : "desc"}`, start: 0 });
    load();
  }));

  async function load() {
    const s = state();
    const q = queryString({ length: s.length, start: s.start, facets: 1, fields: Columns.fields(columns) });
    const order = s.order ? "&order=" + encodeURIComponent(s.order) : "";
    document.getElementById("length").value = String(s.length);
    document.getElementById("zoom-reset").hidden = !(s.startTime || s.stopTime);
    let res;
    try { res = await api("/api/sessions?" + q + order); }
    catch (err) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns.length, class: "error" }, err.message)));
      document.getElementById("count").textContent = "";
      return;
    }
    document.getElementById("count").textContent = `${res.recordsFiltered} of ${res.recordsTotal} sessions`;
    const pages = Math.max(1, Math.ceil(res.recordsFiltered / s.length));
    document.getElementById("page").textContent = `page ${Math.floor(s.start / s.length) + 1} of ${pages}`;
    document.getElementById("prev").disabled = s.start <= 0;
    document.getElementById("next").disabled = s.start + s.length >= res.recordsFiltered;
    document.getElementById("csv").href = "/api/sessions.csv?" + queryString({ length: s.length, start: s.start }) + order;
    document.getElementById("pcap").href = "/api/sessions.pcap?" + queryString({ length: s.length, start: s.start }) + order;
    tbody.replaceChildren(...res.data.map(row));
    if (!res.data.length) tbody.append(el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "No sessions match.")));
    markSort(s.order);
    histogram(res.graph);
  }

  function row(d) {
    const tr = el("tr", { tabindex: 0, "data-id": d.id, class: "session", "aria-expanded": "false" },
      columns.map((c) => Columns.cell(c, d)));
    const toggle = () => toggleDetail(tr, d.id);
    tr.addEventListener("click", toggle);
    tr.addEventListener("keydown", (e) => {
      if (e.target !== tr) return;
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); }
      else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        let next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        while (next && !next.classList.contains("session")) next = e.key === "ArrowDown" ? next.nextElementSibling : next.previousElementSibling;
        if (next) next.focus();
      }
    });
    return tr;
  }

  async function toggleDetail(tr, id) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail-row")) { next.remove(); tr.setAttribute("aria-expanded", "false"); return; }
    let doc;
    try { doc = await api("/api/session/" + id); } catch (err) { doc = null; }
    const box = el("td", { colspan: columns.length });
    if (!doc) box.append(el("p", { class: "error" }, "This session could not be read."));
    else {
      box.append(el("p", {}, el("a", { href: "/session/" + id }, "Packets and full view"), " · ",
        el("a", { href: `/api/session/${id}.pcap`, download: `session-${id}.pcap`, class: "dl" }, "Download PCAP")));
      box.append(Detail.render(doc));
    }
    tr.after(el("tr", { class: "detail-row" }, box));
    tr.setAttribute("aria-expanded", "true");
  }

  function markSort(order) {
    const [field, dir] = (order || "").split(":");
    table.querySelectorAll("th[data-sort]").forEach((th) =>
      th.setAttribute("aria-sort", th.dataset.sort === field ? (dir === "asc" ? "ascending" : "descending") : "none"));
  }

  // --- the histogram: sessions as bars, bytes and packets as lines, each on its own axis ------------

  const SERIES = [
    { id: "sessions", key: "sessionsHisto", label: "sessions", color: "#3b82f6", fill: "rgba(59,130,246,0.35)", bars: true, fmt: (v) => String(v) },
    { id: "packets", key: "packetsHisto", label: "packets", color: "#16a34a", fmt: (v) => String(v) },
    { id: "bytes", key: "bytesHisto", label: "bytes", color: "#e07b39", fmt: bytes },
  ];
  const compact = (v) => (v >= 1e6 ? (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M" : v >= 1e4 ? (v / 1e3).toFixed(0) + "k" : String(v));
  const readout = document.getElementById("histo-readout");
  const HINT = readout.textContent;

  function histogram(graph) {
    lastGraph = graph;
    const box = document.getElementById("histogram");
    if (plot) { plot.destroy(); plot = null; }
    if (!graph || !window.uPlot) return;
    const step = Math.max(1, graph.interval || 60) * 1000;
    // The API gives only buckets with sessions; the empty ones in between are zeros.
    let xs = [...new Set(graph.sessionsHisto.map((p) => p[0]))].sort((a, b) => a - b);
    if (!xs.length) { box.replaceChildren(el("p", { class: "muted empty" }, "No sessions in this time range.")); return; }
    box.replaceChildren();
    if ((xs[xs.length - 1] - xs[0]) / step <= 2000) {
      const full = [];
      for (let t = xs[0]; t <= xs[xs.length - 1]; t += step) full.push(t);
      xs = full;
    }
    const shown = SERIES.filter((s) => document.getElementById("show-" + s.id).checked);
    box.dataset.series = shown.map((sr) => sr.id).join(" ");
    const data = [xs.map((t) => t / 1000), ...shown.map((s) => { const m = new Map(graph[s.key]); return xs.map((t) => m.get(t) || 0); })];
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim() || "#666";
    const line = css.getPropertyValue("--line").trim() || "#ddd";
    const s = state();
    const lo = urlTime(s.startTime); const hi = urlTime(s.stopTime);
    const pad = step / 2000;
    const scales = { x: { time: true, range: (u, min, max) => [lo !== null ? lo / 1000 : min - pad, hi !== null ? hi / 1000 : max + pad] } };
    const series = [{}];
    const axes = [{ stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } }];
    shown.forEach((sr, i) => {
      scales[sr.id] = { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] };
      series.push({ label: sr.label, scale: sr.id, stroke: sr.color, fill: sr.fill, width: sr.bars ? 0 : 1.5,
        points: { show: false }, paths: sr.bars ? uPlot.paths.bars({ size: [0.9, 40] }) : undefined });
      axes.push({ scale: sr.id, side: i === 0 ? 3 : 1, stroke: sr.color, size: sr.id === "bytes" ? 72 : 50, grid: { show: i === 0, stroke: line, width: 1 },
        ticks: { stroke: line, width: 1 }, values: (u, vals) => vals.map((v) => (sr.id === "bytes" ? bytes(v) : compact(v))) });
    });
    plot = new uPlot({
      width: box.clientWidth || 800, height: 140, legend: { show: false }, scales, series, axes,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),  // UTC, as every time on these pages
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const a = u.posToVal(u.select.left, "x"); const b = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          zoom(a, b);
        }],
        setCursor: [(u) => {
          const i = u.cursor.idx;
          readout.textContent = i === null || i === undefined ? HINT :
            time(data[0][i] * 1000) + " — " + shown.map((sr, k) => `${sr.fmt(data[k + 1][i])} ${sr.label}`).join(", ");
        }],
      },
    }, data, box);
  }

  function zoom(fromS, toS) {
    const start = Math.floor(fromS);
    setState({ startTime: start, stopTime: Math.max(start + 1, Math.ceil(toS)), start: 0 });
    window.dispatchEvent(new Event("fk:search"));
  }

  SERIES.forEach((sr) => document.getElementById("show-" + sr.id).addEventListener("change", () => histogram(lastGraph)));
  document.getElementById("zoom-reset").addEventListener("click", () => {
    setState({ startTime: null, stopTime: null, start: 0 });
    window.dispatchEvent(new Event("fk:search"));
    document.getElementById("date").focus();
  });
  document.getElementById("prev").addEventListener("click", () => { const s = state(); setState({ start: Math.max(0, s.start - s.length) }); load(); });
  document.getElementById("next").addEventListener("click", () => { const s = state(); setState({ start: s.start + s.length }); load(); });
  document.getElementById("length").addEventListener("change", (e) => { setState({ length: e.target.value, start: 0 }); load(); });
  window.addEventListener("resize", () => plot && plot.setSize({ width: document.getElementById("histogram").clientWidth, height: 140 }));
  Fk.searchBar(load);
  load();
})();
