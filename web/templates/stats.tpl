% rebase('base.tpl', title=title, scripts=['stats.js'])
<h1>Stats</h1>
<dl id="stats" class="stats"></dl>
