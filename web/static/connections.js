// Connections: a force-directed graph (d3-force) of source -> destination values.
"use strict";
(() => {
  const { api, queryString, refine } = Fk;
  const svg = document.getElementById("graph");
  const NS = "http://www.w3.org/2000/svg";
  let sim = null;

  const node = (tag, attrs) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; };

  async function load() {
    const src = document.getElementById("srcField").value || "ip.src";
    const dst = document.getElementById("dstField").value || "ip.dst:port";
    const min = document.getElementById("minConn").value || "1";
    let res;
    try { res = await api("/api/connections?" + queryString({ srcField: src, dstField: dst, minConn: min })); }
    catch (err) { document.getElementById("count").textContent = err.message; return; }
    document.getElementById("count").textContent = `${res.nodes.length} nodes, ${res.links.length} links`;
    draw(res, src, dst);
  }

  function draw(res, src, dst) {
    if (sim) sim.stop();
    svg.replaceChildren();
    const w = svg.clientWidth || 800; const h = svg.clientHeight || 600;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const lines = res.links.map((l) => svg.appendChild(node("line", { class: "link", "stroke-width": Math.min(6, 1 + Math.log2(l.value)) })));
    const groups = res.nodes.map((n) => {
      const g = node("g", { class: "node t" + n.type, tabindex: 0, role: "button", "aria-label": n.id });
      g.append(node("circle", { r: Math.min(14, 4 + Math.sqrt(n.sessions)) }));
      const label = node("text", { x: 10, y: 4 }); label.textContent = n.id; g.append(label);
      const field = n.type === 2 ? dst.replace(/:port$/, "") : src;
      const go = () => refine(field, n.type === 2 && dst.endsWith(":port") ? n.id.replace(/[:.]\d+$/, "") : n.id);
      g.addEventListener("dblclick", go);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      svg.append(g);
      return g;
    });
    sim = d3.forceSimulation(res.nodes)
      .force("link", d3.forceLink(res.links).id((n) => n.id).distance(60))
      .force("charge", d3.forceManyBody().strength(-120))
      .force("center", d3.forceCenter(w / 2, h / 2))
      .force("x", d3.forceX(w / 2).strength(0.05)).force("y", d3.forceY(h / 2).strength(0.05))
      .on("tick", () => {
        res.links.forEach((l, i) => { const a = lines[i]; a.setAttribute("x1", l.source.x); a.setAttribute("y1", l.source.y); a.setAttribute("x2", l.target.x); a.setAttribute("y2", l.target.y); });
        res.nodes.forEach((n, i) => groups[i].setAttribute("transform", `translate(${n.x},${n.y})`));
      });
  }
  ["srcField", "dstField", "minConn"].forEach((id) => document.getElementById(id).addEventListener("change", load));
  Fk.searchBar(load);
  load();
})();
