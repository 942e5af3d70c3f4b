% rebase('base.tpl', title=title, scripts=['users.js'])
<h1>Users</h1>
<div class="tablewrap"><table id="users" class="data">
<thead><tr><th>User</th><th>Role</th><th>Forced expression</th><th>Time limit (h)</th><th>Enabled</th><th></th></tr></thead>
<tbody></tbody></table></div>
<h2>Add a user</h2>
<form id="add-user" class="card">
  <label>User <input name="userId" required></label>
  <label>Password <input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
  <label><input name="admin" type="checkbox" value="1"> Admin</label>
  <label>Forced expression <input name="expression"></label>
  <label>Time limit (hours) <input name="timeLimit" type="number" min="1"></label>
  <button type="submit">Add</button>
  <p class="msg" role="status"></p>
</form>
