// Shared helpers for every page: API calls with the CSRF token, the search bar, formatting.
"use strict";

const Fk = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const fieldsEl = document.getElementById("fields");
  // [expr, path, type, group, help] of every searchable field, from the server's registry.
  const fields = fieldsEl ? JSON.parse(fieldsEl.textContent) : [];
  const byPath = new Map(fields.map((f) => [f[1], f]));
  // The logged-in user's own settings (GET/POST /api/user/settings), written into the page.
  const settingsEl = document.getElementById("user-settings");
  const userSettings = settingsEl ? JSON.parse(settingsEl.textContent) : {};
  async function saveSettings(changes) {
    const answer = await api("/api/user/settings", { json: changes });
    Object.assign(userSettings, answer.settings);
    return userSettings;
  }

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

  // Search state lives in the URL, so Back, reload and links keep it. A custom range (startTime and
  // stopTime, seconds since the epoch, from the range inputs or a zoom on the chart) takes the place
  // of the `date` preset while it is set; the preset stays in the URL to go back to.
  function state() {
    const q = new URLSearchParams(location.search);
    return { expression: q.get("expression") || "", date: q.get("date") || "24", start: +(q.get("start") || 0),
             length: +(q.get("length") || 100), order: q.get("order") || "",
             startTime: q.get("startTime") || "", stopTime: q.get("stopTime") || "" };
  }
  function setState(changes, replace) {
    const q = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null || v === undefined) q.delete(k); else q.set(k, v); }
    history[replace ? "replaceState" : "pushState"](null, "", "?" + q.toString());
  }
  const custom = (s) => !!(s.startTime || s.stopTime);
  // What the API is sent for the time range: Arkime's `date`, or `startTime`/`stopTime`.
  function timeParams(s = state()) {
    if (!custom(s)) return { date: s.date };
    const out = {};
    if (s.startTime) out.startTime = s.startTime;
    if (s.stopTime) out.stopTime = s.stopTime;
    return out;
  }
  function queryString(extra = {}) {
    const s = state();
    const q = new URLSearchParams({ ...timeParams(s), ...extra });
    if (s.expression) q.set("expression", s.expression);
    return q.toString();
  }
  // A URL time (epoch seconds or anything Date.parse reads) as milliseconds, or null.
  function urlTime(text) {
    if (!text) return null;
    if (/^\d+$/.test(text)) return +text * 1000;
    const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text.replace(" ", "T") + "Z");
    return Number.isNaN(ms) ? null : ms;
  }

  // `field == value` (or `!=`) with the value quoted when it is not a plain token.
  function term(field, value, op = "==") {
    const v = String(value);
    const plain = /^[-a-zA-Z0-9_.@:\/]+$/.test(v) && !v.startsWith("/");
    return `${field} ${op} ${plain ? v : JSON.stringify(v)}`;
  }
  // The expression after a click on a value: AND, OR or AND NOT the value's term.
  function combine(base, how, field, value) {
    const add = term(field, value, how === "not" ? "!=" : "==");
    if (!base.trim()) return add;
    return `(${base}) ${how === "or" ? "||" : "&&"} ${add}`;
  }
  const hasSearch = () => !!document.getElementById("search");
  // Sessions with just `field == value`, in the current time range (all time from a page without one).
  function sessionsUrl(field, value) {
    const times = hasSearch() ? timeParams() : { date: "-1" };
    return "/sessions?" + new URLSearchParams({ ...times, expression: term(field, value) });
  }
  function refine(field, value, how = "and") {
    if (!hasSearch()) { location.href = "/sessions?" + new URLSearchParams({ date: "-1", expression: combine("", how, field, value) }); return; }
    setState({ expression: combine(state().expression, how, field, value), start: 0 });
    window.dispatchEvent(new Event("fk:search"));
  }

  // A clickable value: a click (or Enter/Space) opens a small menu (and, or, and not, new tab, copy);
  // Shift-click ORs, Alt-click ANDs NOT and Ctrl- or Cmd-click opens the value's sessions in a new tab.
  function valueButton(field, value, text) {
    return el("button", { type: "button", class: "value", "aria-haspopup": "menu",
      title: `${term(field, value)}\nClick: and / or / not menu · Shift: or · Alt: and not · Ctrl: new tab`,
      onclick: (e) => {
        e.stopPropagation();
        if (e.ctrlKey || e.metaKey) window.open(sessionsUrl(field, value), "_blank", "noopener");
        else if (e.shiftKey) refine(field, value, "or");
        else if (e.altKey) refine(field, value, "not");
        else ValueMenu.open(e.currentTarget, field, value);
      } }, text ?? String(value));
  }

  const ValueMenu = (() => {
    let box = null; let opener = null;
    function close(refocus) {
      if (!box) return;
      box.remove(); box = null;
      document.removeEventListener("mousedown", outside, true);
      if (opener) { opener.setAttribute("aria-expanded", "false"); if (refocus) opener.focus(); }
      opener = null;
    }
    function outside(e) { if (box && !box.contains(e.target) && e.target !== opener) close(false); }
    function open(button, field, value) {
      const again = opener === button;
      close(false);
      if (again) return;  // a second click on the same value closes its menu
      opener = button;
      const item = (how, label, hint) => el("button", { type: "button", role: "menuitem", "data-how": how, title: hint,
        onclick: () => { close(false); refine(field, value, how); } }, label);
      const items = [
        item("and", "and", "AND " + term(field, value)),
        item("or", "or", "OR " + term(field, value)),
        item("not", "and not", "AND " + term(field, value, "!=")),
        el("a", { role: "menuitem", href: sessionsUrl(field, value), target: "_blank", rel: "noopener", "data-how": "tab",
          onclick: () => close(false) }, "new tab ↗"),
      ];
      if (navigator.clipboard) {
        items.push(el("button", { type: "button", role: "menuitem", "data-how": "copy", onclick: async () => {
          try { await navigator.clipboard.writeText(String(value)); } catch (err) { /* no clipboard: nothing to do */ }
          close(true);
        } }, "copy"));
      }
      box = el("div", { class: "value-menu", role: "menu", "aria-label": term(field, value) },
        el("div", { class: "head" }, term(field, value)), el("div", { class: "items" }, items));
      box.addEventListener("keydown", (e) => {
        const all = [...box.querySelectorAll('[role="menuitem"]')];
        const at = all.indexOf(document.activeElement);
        if (e.key === "ArrowDown" || e.key === "ArrowRight") { e.preventDefault(); all[(at + 1) % all.length].focus(); }
        else if (e.key === "ArrowUp" || e.key === "ArrowLeft") { e.preventDefault(); all[(at + all.length - 1) % all.length].focus(); }
        else if (e.key === "Home") { e.preventDefault(); all[0].focus(); }
        else if (e.key === "End") { e.preventDefault(); all[all.length - 1].focus(); }
        else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(true); }
        else if (e.key === "Tab") close(true);
      });
      box.addEventListener("click", (e) => e.stopPropagation());  // not the table row under it
      document.body.append(box);
      const r = button.getBoundingClientRect();
      const left = Math.max(4, Math.min(r.left, document.documentElement.clientWidth - box.offsetWidth - 4));
      box.style.left = left + scrollX + "px";
      box.style.top = r.bottom + scrollY + 2 + "px";
      button.setAttribute("aria-expanded", "true");
      document.addEventListener("mousedown", outside, true);
      items[0].focus();
    }
    window.addEventListener("fk:search", () => close(false));
    window.addEventListener("popstate", () => close(false));
    return { open, close };
  })();

  // The search bar: expression, a time preset or a custom range (UTC, as every time on these pages).
  function searchBar(onSearch) {
    const form = document.getElementById("search");
    if (!form) return;
    const input = form.querySelector("#expression");
    const date = form.querySelector("#date");
    const range = form.querySelector("#range");
    const from = form.querySelector("#startTime");
    const to = form.querySelector("#stopTime");
    const error = form.querySelector("#expr-error");
    const toInput = (ms) => (ms === null ? "" : new Date(ms).toISOString().slice(0, 19));
    const fromInput = (text) => { if (!text) return null; const ms = Date.parse(text + (text.length === 16 ? ":00Z" : "Z")); return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000); };

    function sync() {
      const s = state();
      input.value = s.expression;
      if (![...date.options].some((o) => o.value === s.date)) date.add(new Option(`Last ${s.date} hours`, s.date), date.options[date.options.length - 1]);
      date.value = custom(s) ? "custom" : s.date;
      range.hidden = !custom(s);
      from.value = toInput(urlTime(s.startTime)); to.value = toInput(urlTime(s.stopTime));
    }
    sync();
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const changes = { expression: input.value.trim(), start: 0 };
      if (date.value === "custom") {
        const a = fromInput(from.value); const b = fromInput(to.value);
        if (Number.isNaN(a) || Number.isNaN(b) || (a === null && b === null)) { showError(error, { error: "give a start and/or a stop time" }); from.focus(); return; }
        if (a !== null && b !== null && a >= b) { showError(error, { error: "the start must be before the stop" }); from.focus(); return; }
        Object.assign(changes, { startTime: a ?? "", stopTime: b ?? "" });
      } else Object.assign(changes, { date: date.value, startTime: null, stopTime: null });
      setState(changes);
      showError(error, null);
      check(input, error);
      onSearch();
    });
    date.addEventListener("change", () => {
      if (date.value !== "custom") { form.requestSubmit(); return; }
      // Start from the range being shown, so a custom range is an edit of it.
      const s = state();
      if (!from.value && !to.value && +s.date > 0) { const now = Date.now(); from.value = toInput(now - s.date * 3600e3); to.value = toInput(now); }
      range.hidden = false;
      from.focus();
    });
    window.addEventListener("popstate", () => { sync(); onSearch(); });
    window.addEventListener("fk:search", () => { sync(); onSearch(); });
    completion(input);
    let timer;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => check(input, error), 300); });
    // "/" anywhere but in a text field goes to the search expression.
    document.addEventListener("keydown", (e) => {
      if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.target.closest && e.target.closest("input, select, textarea, [contenteditable]")) return;
      e.preventDefault(); input.focus(); input.select();
    });
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

  return { api, el, time, bytes, state, setState, timeParams, queryString, urlTime, term, combine, refine, valueButton,
           searchBar, fields, byPath, formMessage, csrf, userSettings, saveSettings };
})();

// Session detail: every field, grouped as in the registry; each value is a value button (and/or/not/new tab).
const Detail = (() => {
  const { el, time, byPath, valueButton } = Fk;
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
            valueButton(expr, v, isTime ? time(v) : String(v)) :
            el("span", { class: "value" }, String(v)))));
      }
      box.append(el("section", {}, el("h3", {}, group), dl));
    }
    return box;
  }
  return { render };
})();
