// Shared helpers for every page: API calls with the CSRF token, the search bar, formatting.
"use strict";

const Fk = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const fieldsEl = document.getElementById("fields");
  // [expr, path, type, group, help] of every searchable field, from the server's registry.
  const fields = fieldsEl ? JSON.parse(fieldsEl.textContent) : [];
  const byPath = new Map(fields.map((f) => [f[1], f]));

  async function api(path, opts = {}) {
    const init = { credentials: "same-origin", headers: { "X-CSRF-Token": csrf }, ...opts };
    if (opts.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.json);
    }
    const res = await fetch(path, init);
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    const type = res.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await res.json() : await res.text();
    if (!res.ok) { const err = new Error(body.error || res.statusText); err.body = body; err.status = res.status; throw err; }
    return body;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
    return node;
  }

  const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");
  const bytes = (n) => {
    if (n === null || n === undefined) return "";
    const units = ["B", "kB", "MB", "GB", "TB"]; let i = 0; let v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(1) : v) + " " + units[i];
  };

  // Search state lives in the URL, so Back, reload and links keep it.
  function state() {
    const q = new URLSearchParams(location.search);
    return { expression: q.get("expression") || "", date: q.get("date") || "24", start: +(q.get("start") || 0),
             length: +(q.get("length") || 100), order: q.get("order") || "" };
  }
  function setState(changes, replace) {
    const q = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null || v === undefined) q.delete(k); else q.set(k, v); }
    history[replace ? "replaceState" : "pushState"](null, "", "?" + q.toString());
  }
  function queryString(extra = {}) {
    const s = state();
    const q = new URLSearchParams({ date: s.date, ...extra });
    if (s.expression) q.set("expression", s.expression);
    return q.toString();
  }

  // `field == value` with the value quoted when it is not a plain token.
  function term(field, value) {
    const v = String(value);
    const plain = /^[-a-zA-Z0-9_.@:\/]+$/.test(v) && !v.startsWith("/");
    return `${field} == ${plain ? v : JSON.stringify(v)}`;
  }
  function refine(field, value) {
    const s = state();
    const add = term(field, value);
    setState({ expression: s.expression ? `(${s.expression}) && ${add}` : add, start: 0 });
    window.dispatchEvent(new Event("fk:search"));
  }

  function searchBar(onSearch) {
    const form = document.getElementById("search");
    if (!form) return;
    const input = form.querySelector("#expression");
    const date = form.querySelector("#date");
    const error = form.querySelector("#expr-error");
    const s = state();
    input.value = s.expression; date.value = s.date;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      setState({ expression: input.value.trim(), date: date.value, start: 0 });
      onSearch();
    });
    date.addEventListener("change", () => form.requestSubmit());
    window.addEventListener("popstate", () => { const t = state(); input.value = t.expression; date.value = t.date; onSearch(); });
    window.addEventListener("fk:search", () => { input.value = state().expression; onSearch(); });
    completion(input);
    let timer;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => check(input, error), 300); });
  }

  async function check(input, error) {
    const text = input.value.trim();
    if (!text) { showError(error, null); return true; }
    try { await api("/api/buildquery?expression=" + encodeURIComponent(text)); showError(error, null); return true; }
    catch (err) { showError(error, err.body && err.body.error ? err.body : { error: err.message }, text); return false; }
  }
  function showError(error, body, text) {
    if (!body) { error.hidden = true; error.textContent = ""; return; }
    error.hidden = false;
    error.textContent = body.error;
    if (body.position !== undefined && text !== undefined) {
      error.append(el("code", { class: "at" }, text.slice(0, body.position), el("mark", {}, text.slice(body.position) || " ")));
    }
  }

  // Field-name completion: the word under the cursor, matched against expression names.
  function completion(input) {
    const list = document.getElementById("complete");
    let items = []; let active = -1;
    const word = () => {
      const upto = input.value.slice(0, input.selectionStart);
      const m = upto.match(/[a-zA-Z0-9_.\-]+$/);
      return m && !/(==|!=|<|>|=)\s*[^&|()]*$/.test(upto) ? m[0] : "";
    };
    const close = () => { list.hidden = true; active = -1; input.removeAttribute("aria-activedescendant"); };
    const pick = (name) => {
      const pos = input.selectionStart; const w = word();
      input.value = input.value.slice(0, pos - w.length) + name + " == " + input.value.slice(pos);
      const at = pos - w.length + name.length + 4; input.setSelectionRange(at, at); close(); input.focus();
    };
    input.addEventListener("input", () => {
      const w = word().toLowerCase();
      items = w ? fields.filter((f) => f[0].toLowerCase().startsWith(w)).slice(0, 12) : [];
      list.replaceChildren(...items.map((f, i) => el("li", { role: "option", id: "opt" + i, title: f[4],
        onmousedown: (e) => { e.preventDefault(); pick(f[0]); } }, f[0], el("small", {}, " " + f[2]))));
      list.hidden = !items.length; active = -1;
    });
    input.addEventListener("keydown", (e) => {
      if (list.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        [...list.children].forEach((li, i) => li.setAttribute("aria-selected", i === active));
        input.setAttribute("aria-activedescendant", "opt" + active);
      } else if ((e.key === "Enter" || e.key === "Tab") && active >= 0) { e.preventDefault(); pick(items[active][0]); }
      else if (e.key === "Escape") close();
    });
    input.addEventListener("blur", close);
  }

  function formMessage(form, text, bad) {
    const msg = form.querySelector(".msg"); msg.textContent = text; msg.classList.toggle("error", !!bad);
  }

  return { api, el, time, bytes, state, setState, queryString, refine, searchBar, fields, byPath, formMessage, csrf };
})();

// Session detail: every field, grouped as in the registry; each value adds `field == value`.
const Detail = (() => {
  const { el, time, byPath, refine } = Fk;
  const SKIP = new Set(["packetPos", "packetLen", "fileId", "packetRange", "id"]);

  function flatten(prefix, value, out) {
    if (Array.isArray(value) && value.length && typeof value[0] === "object") { value.forEach((v) => flatten(prefix, v, out)); return; }
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) flatten(prefix + "." + k, v, out);
      return;
    }
    for (const v of Array.isArray(value) ? value : [value]) (out[prefix] = out[prefix] || []).push(v);
  }

  function render(doc) {
    const values = {};
    for (const [path, v] of Object.entries(doc)) if (!SKIP.has(path)) flatten(path, v, values);
    const groups = new Map();
    for (const [path, vals] of Object.entries(values)) {
      const f = byPath.get(path);
      const group = f ? f[3] : "other";
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push([path, f, vals]);
    }
    const box = el("div", { class: "detail" });
    for (const [group, items] of [...groups.entries()].sort((a, b) => (a[0] === "general" ? -1 : b[0] === "general" ? 1 : a[0].localeCompare(b[0])))) {
      const dl = el("dl", {});
      for (const [path, f, vals] of items) {
        const expr = f ? f[0] : path;
        const isTime = f && f[2] === "date";
        dl.append(el("dt", { title: f ? f[4] + " (" + path + ")" : path }, expr),
          el("dd", {}, vals.map((v) => f && f[2] !== "object" ?
            el("button", { type: "button", class: "value", title: `${expr} == ${v}`, onclick: () => go(expr, v) }, isTime ? time(v) : String(v)) :
            el("span", { class: "value" }, String(v)))));
      }
      box.append(el("section", {}, el("h3", {}, group), dl));
    }
    return box;
  }

  function go(expr, v) {
    if (location.pathname === "/sessions") { refine(expr, v); return; }
    location.href = "/sessions?" + new URLSearchParams({ date: "-1", expression: `${expr} == ${JSON.stringify(String(v))}` });
  }
  return { render };
})();
