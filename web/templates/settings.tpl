% rebase('base.tpl', title=title, scripts=['columns.js', 'settings.js'])
<h1>Settings</h1>
<h2>Change your password</h2>
<form id="password" class="card">
  <label>Current password <input name="currentPassword" type="password" autocomplete="current-password" required></label>
  <label>New password <input name="newPassword" type="password" autocomplete="new-password" minlength="8" required></label>
  <label>New password again <input name="again" type="password" autocomplete="new-password" minlength="8" required></label>
  <button type="submit">Change</button>
  <p class="msg" role="status"></p>
</form>
<h2 id="columns-title">Sessions table columns</h2>
<form id="columns" class="card columns" aria-labelledby="columns-title">
  <p class="muted">Tick the columns the Sessions table shows; the arrows set their order. Kept with your user, in every browser.</p>
  <ol id="column-list"></ol>
  <div class="buttons">
    <button type="submit">Save columns</button>
    <button type="button" id="columns-default">Back to the default</button>
  </div>
  <p class="msg" role="status"></p>
</form>
