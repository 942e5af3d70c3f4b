"use strict";
// The scan finder: one row per source from /api/scans, each linking to its sessions.
(() => {
  const { api, el, time } = Fk;
  const sessions = (expr) => "/sessions?" + new URLSearchParams({ date: "-1", expression: expr });
  const spi = (expr) => "/spiview?" + new URLSearchParams({ date: "-1", expression: expr });
  const secs = (s) => (s === null || s === undefined ? "" : s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

  function answered(s) {
    if (!s.answered_probes.length) return "";
    return el("ul", {}, s.answered_probes.map((a) => el("li", {}, `${a.dst}:${a.port} (${a.sessions})`)));
  }

  function row(s) {
    const src = el("a", { href: sessions(s.expression) }, s.src);
    return el("tr", {},
      el("td", {}, s.flagged ? el("mark", {}, src) : src, " ", el("a", { href: spi(s.expression) }, "SPI")),
      el("td", { class: "num" }, s.score.toFixed(1)),
      el("td", { class: "num" }, s.sessions),
      el("td", { class: "num" }, `${s.probes} (${Math.round(100 * s.probe_share)}%)`),
      el("td", { class: "num" }, s.ports), el("td", { class: "num" }, s.hosts),
      el("td", { class: "num" }, s.answered ? el("a", { href: sessions(s.answered_expression) }, s.answered) : "0"),
      el("td", {}, s.gap_mean === null ? "" : `${secs(s.gap_mean)} / ${secs(s.gap_sd)}`),
      el("td", {}, time(s.first_ms)), el("td", {}, time(s.last_ms)), el("td", {}, answered(s)));
  }

  async function load() {
    const days = document.getElementById("days").value || "30";
    const res = await api("/api/scans?" + new URLSearchParams({ days }));
    document.getElementById("window").textContent = `${time(res.start_ms).slice(0, 10)} to ${time(res.stop_ms - 1).slice(0, 10)}`;
    document.querySelector("#scans tbody").replaceChildren(...res.data.map(row));
  }

  document.getElementById("scanform").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
})();
