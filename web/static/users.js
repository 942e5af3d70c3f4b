"use strict";
(() => {
  const { api, el, formMessage } = Fk;
  const tbody = document.querySelector("#users tbody");

  async function load() {
    const res = await api("/api/users");
    tbody.replaceChildren(...res.data.map((u) => el("tr", {},
      el("td", {}, u.userId), el("td", {}, u.roles.join(", ")), el("td", {}, el("code", {}, u.expression)),
      el("td", {}, u.timeLimit ?? ""), el("td", {}, u.enabled ? "yes" : "no"),
      el("td", {}, el("button", { type: "button", onclick: () => remove(u.userId) }, "Delete")))));
  }
  async function remove(name) {
    if (!confirm(`Delete user ${name}?`)) return;
    try { await api("/api/user/" + encodeURIComponent(name), { method: "DELETE" }); } catch (err) { alert(err.message); }
    load();
  }
  const form = document.getElementById("add-user");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try { await api("/api/users", { json: data }); formMessage(form, `added ${data.userId}`); form.reset(); load(); }
    catch (err) { formMessage(form, err.message, true); }
  });
  load();
})();
