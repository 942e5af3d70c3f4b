"use strict";
(async () => {
  const { api, el, time, bytes } = Fk;
  const res = await api("/api/files?length=1000");
  document.querySelector("#files tbody").replaceChildren(...res.data.map((f) => el("tr", {},
    el("td", { class: "num" }, f.num), el("td", {}, f.name), el("td", {}, f.node), el("td", {}, time(f.first)),
    el("td", {}, time(f.last)), el("td", { class: "num" }, bytes(f.filesize)), el("td", { class: "num" }, f.packets), el("td", {}, f.state))));
})();
