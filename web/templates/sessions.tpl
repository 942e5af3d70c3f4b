% rebase('base.tpl', title=title, scripts=['vendor/uplot/uPlot.iife.min.js', 'columns.js', 'sessions.js'], styles=['vendor/uplot/uPlot.min.css'])
% include('_search.tpl')
<div class="chartbar">
  <fieldset class="series">
    <legend class="sr">Series on the chart</legend>
    <label><input type="checkbox" id="show-sessions" checked><span class="swatch sessions"></span>Sessions</label>
    <label><input type="checkbox" id="show-packets"><span class="swatch packets"></span>Packets</label>
    <label><input type="checkbox" id="show-bytes" checked><span class="swatch bytes"></span>Bytes</label>
  </fieldset>
  <span id="histo-readout" class="muted">Drag across the chart to zoom in to that time.</span>
  <button id="zoom-reset" type="button" hidden>Reset zoom</button>
</div>
<div id="histogram" class="histogram" aria-label="Sessions, packets and bytes over time; drag across it to zoom in"></div>
<div class="toolbar">
  <span id="count" aria-live="polite"></span>
  <span class="pager">
    <label>Rows <select id="length"><option>50</option><option selected>100</option><option>500</option></select></label>
    <button id="prev" type="button" aria-label="Previous page">‹</button>
    <span id="page"></span>
    <button id="next" type="button" aria-label="Next page">›</button>
  </span>
  <a id="csv" href="#">CSV</a> <a id="pcap" href="#">PCAP</a>
  <a href="/settings#columns" class="muted">Columns…</a>
</div>
<div class="tablewrap">
<table id="sessions" class="data">
  <thead><tr></tr></thead>
  <tbody></tbody>
</table>
</div>
