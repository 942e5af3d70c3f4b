"use strict";
(async () => {
  const { api, el, bytes } = Fk;
  const s = (await api("/api/stats")).data[0];
  const rows = [["Node", s.nodeName], ["Version", s.version], ["Sessions", s.sessions], ["PCAP files", s.pcapFiles],
    ["Stored packets", s.packets], ["PCAP bytes", bytes(s.pcapBytes)], ["Database", bytes(s.dbBytes)],
    ["Disk free", `${bytes(s.freeSpaceM * 1048576)} (${s.freeSpaceP ?? "?"}%)`]];
  document.getElementById("stats").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
})();
