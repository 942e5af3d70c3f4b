% rebase('base.tpl', title=title, scripts=['vendor/uplot/uPlot.iife.min.js', 'sessions.js'], styles=['vendor/uplot/uPlot.min.css'])
% include('_search.tpl')
<div id="histogram" class="histogram" aria-label="Sessions over time"></div>
<div class="toolbar">
  <span id="count" aria-live="polite"></span>
  <span class="pager">
    <label>Rows <select id="length"><option>50</option><option selected>100</option><option>500</option></select></label>
    <button id="prev" type="button" aria-label="Previous page">‹</button>
    <span id="page"></span>
    <button id="next" type="button" aria-label="Next page">›</button>
  </span>
  <a id="csv" href="#">CSV</a> <a id="pcap" href="#">PCAP</a>
</div>
<div class="tablewrap">
<table id="sessions" class="data">
  <thead><tr>
    <th data-sort="firstPacket"><button type="button">Start</button></th>
    <th data-sort="lastPacket"><button type="button">Stop</button></th>
    <th data-sort="source.ip"><button type="button">Src IP</button></th>
    <th data-sort="source.port"><button type="button">Src port</button></th>
    <th data-sort="destination.ip"><button type="button">Dst IP</button></th>
    <th data-sort="destination.port"><button type="button">Dst port</button></th>
    <th data-sort="network.packets"><button type="button">Packets</button></th>
    <th data-sort="network.bytes"><button type="button">Bytes</button></th>
    <th>Info</th>
  </tr></thead>
  <tbody></tbody>
</table>
</div>
