% rebase('base.tpl', title=title)
<section class="login">
  <h1>Fukurou</h1>
  <form method="post" action="/login" class="card">
    % if error:
    <p class="error" role="alert">{{error}}</p>
    % end
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="next" value="{{next}}">
    <label>User <input name="name" autocomplete="username" required autofocus></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Log in</button>
  </form>
</section>
