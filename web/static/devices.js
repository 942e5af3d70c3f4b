"use strict";
// The device inventory from /api/devices; MACs and names link into Sessions and SPI View.
(async () => {
  const { api, el, time, bytes } = Fk;
  const sessions = (expr) => "/sessions?" + new URLSearchParams({ date: "-1", expression: expr });
  const spi = (expr) => "/spiview?" + new URLSearchParams({ date: "-1", expression: expr });
  const list = (items) => el("ul", {}, items.map((i) => el("li", {}, i)));

  function row(d) {
    const mac = el("a", { href: sessions(d.expression) }, d.mac);
    const ips = d.ips.map((i) => el("a", { href: sessions(`ip == ${i.ip}`), title: `${time(i.first_ms)} to ${time(i.last_ms)}` }, i.ip));
    const days = d.bytes_per_day.slice(-7).map((b) => `${time(b.day_ms).slice(0, 10)}: ${bytes(b.bytes)}`);
    const hosts = d.top_hosts.map((h) => el("a", { href: sessions(`(${d.expression}) && host == ${h.host}`) }, `${h.host} (${h.sessions})`));
    return el("tr", {},
      el("td", {}, d.new ? el("mark", {}, "new ", mac) : mac, " ", el("a", { href: spi(d.expression) }, "SPI")),
      el("td", {}, d.vendor || ""), el("td", {}, d.dhcp_host || ""), el("td", {}, d.dhcp_class || ""),
      el("td", {}, list(ips)), el("td", {}, time(d.first_ms)), el("td", {}, time(d.last_ms)),
      el("td", { class: "num" }, d.sessions), el("td", { class: "num" }, bytes(d.bytes)),
      el("td", {}, list(days)), el("td", {}, list(hosts)));
  }

  const res = await api("/api/devices");
  document.querySelector("#devices tbody").replaceChildren(...res.data.map(row));
})();
