<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{csrf}}">
<title>{{title}} · Fukurou</title>
<link rel="icon" href="/static/favicon.svg?v={{version}}" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css?v={{version}}">
% for css in get('styles', []):
<link rel="stylesheet" href="/static/{{css}}?v={{version}}">
% end
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/sessions">Fukurou</a>
  <nav aria-label="Pages">
  % for path, name in pages:
    <a href="{{path}}"{{!' aria-current="page"' if active == path else ''}}>{{name}}</a>
  % end
  </nav>
  % if user:
  <form class="logout" method="post" action="/logout">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <span class="who">{{user.name}}</span> <button type="submit">Log out</button>
  </form>
  % end
</header>
<main id="main">
{{!base}}
</main>
% if defined('fields_json'):
<script type="application/json" id="fields">{{!fields_json.replace('</', '<\\/')}}</script>
% end
% if defined('settings_json'):
<script type="application/json" id="user-settings">{{!settings_json.replace('</', '<\\/')}}</script>
% end
<script src="/static/app.js?v={{version}}"></script>
% for js in get('scripts', []):
<script src="/static/{{js}}?v={{version}}"></script>
% end
</body>
</html>
