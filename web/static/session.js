// One session: every field, then its packets as hex and ASCII, coloured by direction.
"use strict";
(async () => {
  const { api, el, time } = Fk;
  const sid = document.getElementById("detail").dataset.sid;
  try { document.getElementById("detail").append(Detail.render(await api("/api/session/" + sid))); }
  catch (err) { document.getElementById("detail").append(el("p", { class: "error" }, err.message)); return; }
  const list = document.getElementById("packet-list");
  try {
    const res = await api(`/api/session/${sid}/packets`);
    if (!res.packets.length) list.append(el("p", {}, "No packets stored for this session."));
    res.packets.forEach((p, i) => list.append(packet(p, i)));
  } catch (err) { list.append(el("p", { class: "error" }, err.message)); }

  function packet(p, i) {
    const bytes = p.data.match(/../g) || [];
    const lines = [];
    for (let off = 0; off < bytes.length; off += 16) {
      const chunk = bytes.slice(off, off + 16);
      const ascii = chunk.map((h) => { const c = parseInt(h, 16); return c >= 32 && c < 127 ? String.fromCharCode(c) : "."; }).join("");
      lines.push(off.toString(16).padStart(5, "0") + "  " + chunk.join(" ").padEnd(48) + "  " + ascii);
    }
    return el("section", { class: "packet " + p.dir, "aria-label": `packet ${i + 1} from ${p.dir}` },
      el("header", {}, `#${i + 1} ${time(p.ts)} ${p.dir === "src" ? "→ from source" : "← from destination"} · ${p.len} bytes`),
      el("pre", {}, lines.join("\n") || "(no payload)"));
  }
})();
