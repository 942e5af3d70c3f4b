% rebase('base.tpl', title=title, scripts=['session.js'])
<h1>Session <span id="sid">{{sid}}</span></h1>
<p><a id="download" href="/api/session/{{sid}}.pcap" download="session-{{sid}}.pcap">Download PCAP</a></p>
<div id="detail" class="detail" data-sid="{{sid}}"></div>
<h2 id="packets">Packets</h2>
<form id="packet-options" class="toolbar" aria-label="How the packets are shown">
  <label>View <select id="view" name="view">
    <option value="packets">Packet by packet</option>
    <option value="reassembled">Reassembled</option>
  </select></label>
  <label>Show <select id="enc" name="enc">
    <option value="hex">Hex and ASCII</option>
    <option value="ascii">ASCII</option>
    <option value="utf8">UTF-8</option>
  </select></label>
  <label>First <select id="first" name="packets">
    <option>50</option><option selected>200</option><option>500</option><option>1000</option>
  </select> packets</label>
  <span class="legend"><span class="swatch src"></span><span id="legend-src">source</span>
    <span class="swatch dst"></span><span id="legend-dst">destination</span></span>
  <span id="packet-count" aria-live="polite"></span>
</form>
<div id="packet-list" class="packets" data-sid="{{sid}}"></div>
