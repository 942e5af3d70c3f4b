"use strict";
(() => {
  const { api, formMessage } = Fk;
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
})();
