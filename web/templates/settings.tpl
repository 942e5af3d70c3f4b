% rebase('base.tpl', title=title, scripts=['settings.js'])
<h1>Settings</h1>
<h2>Change your password</h2>
<form id="password" class="card">
  <label>Current password <input name="currentPassword" type="password" autocomplete="current-password" required></label>
  <label>New password <input name="newPassword" type="password" autocomplete="new-password" minlength="8" required></label>
  <label>New password again <input name="again" type="password" autocomplete="new-password" minlength="8" required></label>
  <button type="submit">Change</button>
  <p class="msg" role="status"></p>
</form>
