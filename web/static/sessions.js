// Sessions page: histogram, sortable and paged table, expandable detail with clickable values.
"use strict";
(() => {
  const { api, el, time, bytes, state, setState, queryString, refine } = Fk;
  const tbody = document.querySelector("#sessions tbody");
  let plot = null;
  // What the table shows; the detail view fetches the whole document.
  const LIST_FIELDS = "firstPacket,lastPacket,source.ip,source.port,destination.ip,destination.port," +
    "network.packets,network.bytes,protocol,http.host,dns.host";

  async function load() {
    const s = state();
    const q = queryString({ length: s.length, start: s.start, facets: 1, fields: LIST_FIELDS });
    const order = s.order ? "&order=" + encodeURIComponent(s.order) : "";
    document.getElementById("length").value = String(s.length);
    let res;
    try { res = await api("/api/sessions?" + q + order); }
    catch (err) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "error" }, err.message))); return; }
    document.getElementById("count").textContent = `${res.recordsFiltered} of ${res.recordsTotal} sessions`;
    const pages = Math.max(1, Math.ceil(res.recordsFiltered / s.length));
    document.getElementById("page").textContent = `page ${Math.floor(s.start / s.length) + 1} of ${pages}`;
    document.getElementById("prev").disabled = s.start <= 0;
    document.getElementById("next").disabled = s.start + s.length >= res.recordsFiltered;
    document.getElementById("csv").href = "/api/sessions.csv?" + queryString({ length: s.length, start: s.start }) + order;
    document.getElementById("pcap").href = "/api/sessions.pcap?" + queryString({ length: s.length, start: s.start }) + order;
    tbody.replaceChildren(...res.data.map(row));
    markSort(s.order);
    histogram(res.graph);
  }

  const cell = (field, value, text) => el("td", {}, value === undefined || value === null ? "" :
    el("button", { type: "button", class: "value", title: `${field} == ${value}`, onclick: (e) => { e.stopPropagation(); refine(field, value); } }, text ?? String(value)));

  function row(d) {
    const info = [...(d.protocol || []), ...(d["http.host"] || d["dns.host"] || []).slice(0, 2)].join(" ");
    const tr = el("tr", { tabindex: 0, "data-id": d.id, class: "session" },
      el("td", {}, time(d.firstPacket)), el("td", {}, time(d.lastPacket)),
      cell("ip.src", d["source.ip"]), cell("port.src", d["source.port"]),
      cell("ip.dst", d["destination.ip"]), cell("port.dst", d["destination.port"]),
      el("td", { class: "num" }, d["network.packets"] ?? ""), el("td", { class: "num" }, bytes(d["network.bytes"])),
      el("td", { class: "info" }, info));
    const toggle = () => toggleDetail(tr, d.id);
    tr.addEventListener("click", toggle);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === tr) toggle(); });
    return tr;
  }

  async function toggleDetail(tr, id) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail-row")) { next.remove(); tr.setAttribute("aria-expanded", "false"); return; }
    const doc = await api("/api/session/" + id);
    const box = el("td", { colspan: 9 });
    box.append(el("p", {}, el("a", { href: "/session/" + id }, "Packets and full view"), " · ",
      el("a", { href: `/api/session/${id}.pcap`, download: `session-${id}.pcap`, class: "dl" }, "Download PCAP")));
    box.append(Detail.render(doc));
    tr.after(el("tr", { class: "detail-row" }, box));
    tr.setAttribute("aria-expanded", "true");
  }

  function markSort(order) {
    const [field, dir] = (order || "").split(":");
    document.querySelectorAll("#sessions th[data-sort]").forEach((th) =>
      th.setAttribute("aria-sort", th.dataset.sort === field ? (dir === "asc" ? "ascending" : "descending") : "none"));
  }

  function histogram(graph) {
    const box = document.getElementById("histogram");
    if (!graph || !window.uPlot) return;
    const xs = graph.sessionsHisto.map((p) => p[0] / 1000);
    const ys = graph.sessionsHisto.map((p) => p[1]);
    if (plot) plot.destroy();
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    plot = new uPlot({ width: box.clientWidth || 800, height: 120, legend: { show: false },
      axes: [{ stroke: dark ? "#ccc" : "#333" }, { stroke: dark ? "#ccc" : "#333", size: 50 }],
      series: [{}, { label: "sessions", stroke: "#3b82f6", fill: "rgba(59,130,246,0.3)", paths: uPlot.paths.bars({ size: [0.9, 40] }) }],
      scales: { x: { time: true } } }, [xs, ys], box);
  }

  document.querySelectorAll("#sessions th[data-sort] button").forEach((b) => b.addEventListener("click", () => {
    const field = b.parentElement.dataset.sort;
    const [cur, dir] = state().order.split(":");
    setState({ order: `${field}:${cur === field && dir === "desc" ? "asc" : "desc"}`, start: 0 });
    load();
  }));
  document.getElementById("prev").addEventListener("click", () => { const s = state(); setState({ start: Math.max(0, s.start - s.length) }); load(); });
  document.getElementById("next").addEventListener("click", () => { const s = state(); setState({ start: s.start + s.length }); load(); });
  document.getElementById("length").addEventListener("change", (e) => { setState({ length: e.target.value, start: 0 }); load(); });
  window.addEventListener("resize", () => plot && plot.setSize({ width: document.getElementById("histogram").clientWidth, height: 120 }));
  Fk.searchBar(load);
  load();
})();
