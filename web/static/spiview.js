// SPI view: top values of several fields for the current search; a click on one offers and/or/not/new tab.
"use strict";
(() => {
  const { api, el, queryString, valueButton } = Fk;
  const SPI = ["protocols", "ip.src", "ip.dst", "port.dst", "host.dns", "host.http", "tls.ja4", "mac.src", "tags"];
  const known = new Set(Fk.fields.map((f) => f[0]));

  async function load() {
    const box = document.getElementById("spi");
    const spi = SPI.filter((f) => known.has(f)).map((f) => f + ":10").join(",");
    let res;
    try { res = await api("/api/spiview?" + queryString({ spi })); }
    catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); return; }
    document.getElementById("count").textContent = `${res.recordsFiltered} sessions`;
    box.replaceChildren(...Object.entries(res.spi).map(([field, agg]) => el("section", { class: "card" },
      el("h2", {}, field),
      agg.buckets.length ? el("ol", {}, agg.buckets.map((b) => el("li", {},
        valueButton(field, b.key),
        el("span", { class: "num" }, " " + b.doc_count)))) : el("p", { class: "muted" }, "no values"))));
  }
  Fk.searchBar(load);
  load();
})();
