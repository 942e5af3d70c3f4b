// One session: every field, then its packets, packet by packet or reassembled (each run of packets
// sent the same way as one block), as hex and ASCII, ASCII or UTF-8, coloured by direction.
"use strict";
(async () => {
  const { api, el, time } = Fk;
  const sid = document.getElementById("detail").dataset.sid;
  const list = document.getElementById("packet-list");
  const view = document.getElementById("view");
  const enc = document.getElementById("enc");
  const first = document.getElementById("first");
  const COUNTS = ["50", "200", "500", "1000"];
  let doc;
  try { doc = await api("/api/session/" + sid); document.getElementById("detail").append(Detail.render(doc)); }
  catch (err) { document.getElementById("detail").append(el("p", { class: "error" }, err.message)); return; }
  const ends = {
    src: [doc["source.ip"], doc["source.port"]], dst: [doc["destination.ip"], doc["destination.port"]] };
  const endpoint = ([ip, port]) => (ip === undefined ? "?" : (String(ip).includes(":") ? `[${ip}]` : ip) + (port !== undefined ? ":" + port : ""));
  document.getElementById("legend-src").textContent = "source " + endpoint(ends.src);
  document.getElementById("legend-dst").textContent = "destination " + endpoint(ends.dst);

  // The options live in the URL (?view=&enc=&packets=), so reload and links keep them.
  function options() {
    const q = new URLSearchParams(location.search);
    return { view: q.get("view") === "reassembled" ? "reassembled" : "packets",
             enc: ["ascii", "utf8"].includes(q.get("enc")) ? q.get("enc") : "hex",
             packets: COUNTS.includes(q.get("packets")) ? q.get("packets") : "200" };
  }
  function setOptions() {
    const q = new URLSearchParams(location.search);
    q.set("view", view.value); q.set("enc", enc.value); q.set("packets", first.value);
    history.replaceState(null, "", "?" + q.toString() + location.hash);
  }

  let res = null; let fetched = "";
  async function load() {
    const o = options();
    view.value = o.view; enc.value = o.enc; first.value = o.packets;
    const want = `${o.view}/${o.packets}`;
    if (want !== fetched) {
      list.setAttribute("aria-busy", "true");
      try { res = await api(`/api/session/${sid}/packets?packets=${o.packets}` + (o.view === "reassembled" ? "&reassemble=1" : "")); }
      catch (err) { list.replaceChildren(el("p", { class: "error" }, err.message)); list.removeAttribute("aria-busy"); fetched = ""; return; }
      fetched = want;
    }
    const items = o.view === "reassembled" ? res.blocks : res.packets;
    const more = res.total > res.shown ? ` (the first ${res.shown} of ${res.total})` : "";
    document.getElementById("packet-count").textContent = o.view === "reassembled" ?
      `${items.length} blocks from ${res.shown} packets${more}` : `${res.shown} packets${more}`;
    list.replaceChildren(...items.map((p, i) => (o.view === "reassembled" ? block(p, i, o.enc) : packet(p, o.enc))));
    if (!items.length) list.append(el("p", {}, o.view === "reassembled" ? "No payload in these packets." : "No packets stored for this session."));
    list.removeAttribute("aria-busy");
  }

  const fromHex = (hex) => { const out = new Uint8Array(hex.length / 2); for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16); return out; };
  const printable = (c) => (c >= 32 && c < 127 ? String.fromCharCode(c) : ".");

  function hexDump(data) {
    const lines = [];
    for (let off = 0; off < data.length; off += 16) {
      const chunk = [...data.subarray(off, off + 16)];
      lines.push(off.toString(16).padStart(5, "0") + "  " + chunk.map((c) => c.toString(16).padStart(2, "0")).join(" ").padEnd(48) +
        "  " + chunk.map(printable).join(""));
    }
    return lines.join("\n");
  }
  // ASCII: printable characters, line breaks and tabs kept, every other byte a dot.
  const ascii = (data) => [...data].map((c) => (c === 10 || c === 9 ? String.fromCharCode(c) : c === 13 ? "" : printable(c))).join("");
  // UTF-8: decoded (bad sequences become U+FFFD), control characters shown as dots.
  const utf8 = (data) => new TextDecoder("utf-8").decode(data).replace(/\r\n/g, "\n")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ".");
  function render(hex, encoding) {
    const data = fromHex(hex);
    if (!data.length) return "(no payload)";
    return encoding === "ascii" ? ascii(data) : encoding === "utf8" ? utf8(data) : hexDump(data);
  }
  const arrow = (dir) => (dir === "src" ? `${endpoint(ends.src)} → ${endpoint(ends.dst)}` : `${endpoint(ends.dst)} → ${endpoint(ends.src)}`);

  function packet(p, encoding) {
    return el("section", { class: "packet " + p.dir, "aria-label": `packet ${p.n} from the ${p.dir === "src" ? "source" : "destination"}` },
      el("header", {}, `#${p.n} · ${time(p.ts)}.${String(p.ts % 1000).padStart(3, "0")} · ${arrow(p.dir)} · ${p.len} bytes` +
        (p.data ? `, ${p.data.length / 2} of payload` : "")),
      el("pre", { class: encoding }, render(p.data, encoding)));
  }
  function block(b, i, encoding) {
    const from = b.first === b.last ? `packet ${b.first}` : `packets ${b.first}–${b.last} (${b.packets} with data)`;
    return el("section", { class: "packet block " + b.dir, "aria-label": `block ${i + 1} from the ${b.dir === "src" ? "source" : "destination"}` },
      el("header", {}, `${time(b.ts)} · ${arrow(b.dir)} · ${b.bytes} bytes from ${from}`),
      el("pre", { class: encoding }, render(b.data, encoding)));
  }

  for (const control of [view, enc, first]) control.addEventListener("change", () => { setOptions(); load(); });
  document.getElementById("packet-options").addEventListener("submit", (e) => e.preventDefault());
  await load();
})();
