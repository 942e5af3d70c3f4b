% rebase('base.tpl', title=title, scripts=['session.js'])
<h1>Session <span id="sid">{{sid}}</span></h1>
<p><a id="download" href="/api/session/{{sid}}.pcap" download>Download PCAP</a></p>
<div id="detail" class="detail" data-sid="{{sid}}"></div>
<h2 id="packets">Packets</h2>
<div id="packet-list" class="packets" data-sid="{{sid}}"></div>
