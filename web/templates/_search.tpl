<form class="searchbar" id="search" autocomplete="off">
  <div class="expr">
    <label for="expression" class="sr">Search expression</label>
    <input id="expression" name="expression" placeholder="ip.src == 10.0.0.1 && port.dst == 443" spellcheck="false"
           title="Search expression (press / to come here)"
           aria-describedby="expr-error" aria-autocomplete="list" aria-controls="complete">
    <ul id="complete" role="listbox" hidden></ul>
    <p id="expr-error" class="error" role="alert" hidden></p>
  </div>
  <label for="date" class="sr">Time range</label>
  <select id="date" name="date">
    <option value="1">Last hour</option>
    <option value="6">Last 6 hours</option>
    <option value="24">Last 24 hours</option>
    <option value="48">Last 2 days</option>
    <option value="168">Last 7 days</option>
    <option value="720">Last 30 days</option>
    <option value="-1">All</option>
    <option value="custom">Custom range…</option>
  </select>
  <span id="range" class="range" hidden>
    <label>From <input id="startTime" type="datetime-local" step="1"></label>
    <label>to <input id="stopTime" type="datetime-local" step="1"></label>
    <abbr title="Coordinated Universal Time, as every time on these pages">UTC</abbr>
  </span>
  <button type="submit">Search</button>
</form>
