// The Sessions table's columns: what each shows and which document fields it needs. Which of them the
// table shows, and in what order, is chosen on the Settings page and kept with the user on the server
// (the sessionsColumns user setting), so it follows the user from browser to browser.
"use strict";
const Columns = (() => {
  const { el, time, bytes, byPath, valueButton, userSettings, saveSettings } = Fk;
  const PROTO = { 1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp" };
  const duration = (ms) => (ms === undefined || ms === null ? "" : ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 60000 ? 1 : 0) + " s");

  // id, heading, document path (fetched with `fields=`, sorted on when `sort`), how values look.
  // Columns whose values are `click`able offer the value menu (and / or / not / new tab).
  const ALL = [
    { id: "start", label: "Start", path: "firstPacket", sort: true, fmt: time },
    { id: "stop", label: "Stop", path: "lastPacket", sort: true, fmt: time },
    { id: "srcIp", label: "Src IP", path: "source.ip", sort: true, click: true },
    { id: "srcPort", label: "Src port", path: "source.port", sort: true, click: true },
    { id: "dstIp", label: "Dst IP", path: "destination.ip", sort: true, click: true },
    { id: "dstPort", label: "Dst port", path: "destination.port", sort: true, click: true },
    { id: "packets", label: "Packets", path: "network.packets", sort: true, num: true },
    { id: "bytes", label: "Bytes", path: "network.bytes", sort: true, num: true, fmt: bytes },
    { id: "info", label: "Info", paths: ["protocol", "http.host", "dns.host", "user"], info: true },
    { id: "ipProtocol", label: "IP protocol", path: "ipProtocol", sort: true, click: true, fmt: (v) => PROTO[v] || String(v) },
    { id: "protocols", label: "Protocols", path: "protocol", click: true },
    { id: "databytes", label: "Data bytes", path: "totDataBytes", sort: true, num: true, fmt: bytes },
    { id: "srcBytes", label: "Src bytes", path: "source.bytes", sort: true, num: true, fmt: bytes },
    { id: "dstBytes", label: "Dst bytes", path: "destination.bytes", sort: true, num: true, fmt: bytes },
    { id: "srcDatabytes", label: "Src data bytes", path: "client.bytes", sort: true, num: true, fmt: bytes },
    { id: "dstDatabytes", label: "Dst data bytes", path: "server.bytes", sort: true, num: true, fmt: bytes },
    { id: "srcPackets", label: "Src packets", path: "source.packets", sort: true, num: true },
    { id: "dstPackets", label: "Dst packets", path: "destination.packets", sort: true, num: true },
    { id: "duration", label: "Duration", path: "length", sort: true, num: true, fmt: duration },
    { id: "srcMac", label: "Src MAC", path: "source.mac", click: true },
    { id: "dstMac", label: "Dst MAC", path: "destination.mac", click: true },
    { id: "vlan", label: "VLAN", path: "network.vlan.id", click: true },
    { id: "node", label: "Node", path: "node", click: true },
    { id: "communityId", label: "Community ID", path: "network.community_id", click: true },
    { id: "tags", label: "Tags", path: "tags", click: true },
    { id: "httpHost", label: "HTTP host", path: "http.host", click: true },
    { id: "httpUri", label: "HTTP URI", path: "http.uri", click: true },
    { id: "dnsHost", label: "DNS host", path: "dns.host", click: true },
    { id: "user", label: "User", path: "user", click: true },
    { id: "certAlt", label: "Certificate names", path: "cert.alt", click: true },
  ].filter((c) => c.info || byPath.has(c.path) || !byPath.size);  // only fields this viewer knows
  const DEFAULT = ["start", "stop", "srcIp", "srcPort", "dstIp", "dstPort", "packets", "bytes", "info"];
  const byId = new Map(ALL.map((c) => [c.id, c]));

  function chosenIds() {
    const saved = userSettings.sessionsColumns;
    const ids = Array.isArray(saved) ? saved.filter((id) => byId.has(id)) : [];
    return ids.length ? ids : DEFAULT.filter((id) => byId.has(id));
  }
  const chosen = () => chosenIds().map((id) => byId.get(id));
  // Saves on the server (an empty list means the default columns); rejects when that fails.
  function save(ids) {
    const known = ids.filter((id) => byId.has(id));
    return saveSettings({ sessionsColumns: known.join() === DEFAULT.join() ? [] : known });
  }
  // The document paths the table needs, for `fields=`.
  const fields = (cols) => [...new Set(cols.flatMap((c) => c.paths || [c.path]))].join(",");

  const list = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
  const expr = (path) => (byPath.get(path) || [path])[0];

  function cell(col, doc) {
    if (col.info) {
      const hosts = [...list(doc["http.host"]).map((h) => ["http.host", h]), ...list(doc["dns.host"]).map((h) => ["dns.host", h])];
      // Protocols, the first two hosts, and who logged in (FTP, mail, NTLM): what a session was at a glance.
      const users = list(doc.user).slice(0, 2).map((u) => ["user", u]);
      return el("td", { class: "info" }, [...list(doc.protocol).map((p) => ["protocol", p]), ...hosts.slice(0, 2), ...users]
        .map(([path, v]) => valueButton(expr(path), v)));
    }
    const values = list(doc[col.path]);
    const show = (v) => (col.fmt ? col.fmt(v) : String(v));
    return el("td", { class: col.num ? "num" : undefined }, col.click ?
      values.map((v) => valueButton(expr(col.path), v, show(v))) : values.map(show).join(", "));
  }

  function heading(col) {
    return el("th", { "data-sort": col.sort ? col.path : undefined, "data-col": col.id, scope: "col" },
      col.sort ? el("button", { type: "button", title: `Sort by ${col.label.toLowerCase()}` }, col.label) : col.label);
  }
  return { ALL, DEFAULT, byId, chosenIds, chosen, save, fields, cell, heading };
})();
