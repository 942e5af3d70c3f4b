% rebase('base.tpl', title=title, scripts=['devices.js'])
<h1>Devices</h1>
<p>Every device seen on the network, by MAC address. <mark>New</mark> devices were first seen in
the last day of data.</p>
<div class="tablewrap"><table id="devices" class="data">
<thead><tr><th>MAC</th><th>Vendor</th><th>DHCP host</th><th>DHCP class</th><th>Addresses</th>
<th>First seen</th><th>Last seen</th><th>Sessions</th><th>Bytes</th><th>Bytes per day</th><th>Top destinations</th></tr></thead>
<tbody></tbody></table></div>
