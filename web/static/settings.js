// Settings: the user's own password and the Sessions table's columns (both kept on the server, per user).
"use strict";
(() => {
  const { api, el, formMessage } = Fk;
  const form = document.getElementById("password");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (data.newPassword !== data.again) { formMessage(form, "the new passwords differ", true); return; }
    try {
      await api("/api/user/password", { json: { currentPassword: data.currentPassword, newPassword: data.newPassword } });
      formMessage(form, "Password changed; please log in again.");
      setTimeout(() => { location.href = "/login"; }, 1500);
    } catch (err) { formMessage(form, err.message, true); }
  });

  // Columns: the chosen ones first, in their order, then the others; each with a tick box and arrows.
  const columnsForm = document.getElementById("columns");
  const list = document.getElementById("column-list");
  function fill(ids) {
    const rest = Columns.ALL.map((c) => c.id).filter((id) => !ids.includes(id));
    list.replaceChildren(...[...ids, ...rest].map((id) => {
      const c = Columns.byId.get(id);
      const move = (delta) => (e) => {
        const li = e.currentTarget.closest("li");
        const other = delta < 0 ? li.previousElementSibling : li.nextElementSibling;
        if (!other) return;
        if (delta < 0) other.before(li); else other.after(li);
        e.currentTarget.focus();
        formMessage(columnsForm, "");
      };
      return el("li", { "data-col": id },
        el("label", {}, el("input", { type: "checkbox", name: "col", value: id, checked: ids.includes(id) }), " " + c.label,
          c.path ? el("small", { class: "muted" }, " " + c.path) : ""),
        el("span", { class: "move" },
          el("button", { type: "button", class: "up", "aria-label": `Move ${c.label} up`, title: "Move up", onclick: move(-1) }, "↑"),
          el("button", { type: "button", class: "down", "aria-label": `Move ${c.label} down`, title: "Move down", onclick: move(1) }, "↓")));
    }));
  }
  fill(Columns.chosenIds());
  columnsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ids = [...list.querySelectorAll('input[name="col"]:checked')].map((i) => i.value);
    if (!ids.length) { formMessage(columnsForm, "choose at least one column", true); return; }
    try { await Columns.save(ids); } catch (err) { formMessage(columnsForm, err.message, true); return; }
    formMessage(columnsForm, `Saved: the Sessions table shows ${ids.length} columns.`);
  });
  document.getElementById("columns-default").addEventListener("click", async () => {
    try { await Columns.save(Columns.DEFAULT); } catch (err) { formMessage(columnsForm, err.message, true); return; }
    fill(Columns.chosenIds());
    formMessage(columnsForm, "Back to the default columns.");
  });
})();
