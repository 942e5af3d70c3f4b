% rebase('base.tpl', title=title, scripts=['scans.js'])
<h1>Scanners</h1>
<form class="toolbar" id="scanform">
  <label>Days <input id="days" name="days" type="number" min="1" max="3660" value="30" size="4"></label>
  <button type="submit">Show</button>
  <span id="window" aria-live="polite"></span>
</form>
<p>Sources ranked by how scan-like they were: probe share (one-packet or SYN-only sessions) times
the breadth of ports and hosts touched. <mark>Flagged</mark> rows list the probes that got an answer.</p>
<div class="tablewrap"><table id="scans" class="data">
<thead><tr><th>Source</th><th>Score</th><th>Sessions</th><th>Probes</th><th>Ports</th><th>Hosts</th>
<th>Answered</th><th>Gap mean / sd</th><th>First seen</th><th>Last seen</th><th>Answered probes</th></tr></thead>
<tbody></tbody></table></div>
