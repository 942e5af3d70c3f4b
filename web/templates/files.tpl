% rebase('base.tpl', title=title, scripts=['files.js'])
<h1>PCAP files</h1>
<div class="tablewrap"><table id="files" class="data">
<thead><tr><th>#</th><th>Name</th><th>Node</th><th>First packet</th><th>Last packet</th><th>Size</th><th>Packets</th><th>State</th></tr></thead>
<tbody></tbody></table></div>
