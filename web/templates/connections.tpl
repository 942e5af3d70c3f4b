% rebase('base.tpl', title=title, scripts=['vendor/d3-force/d3-dispatch.min.js', 'vendor/d3-force/d3-quadtree.min.js', 'vendor/d3-force/d3-timer.min.js', 'vendor/d3-force/d3-force.min.js', 'connections.js'])
% include('_search.tpl')
<div class="toolbar">
  <label>Source field <input id="srcField" value="ip.src" size="14"></label>
  <label>Destination field <input id="dstField" value="ip.dst:port" size="14"></label>
  <label>Min. sessions <input id="minConn" type="number" value="1" min="1" size="4"></label>
  <span id="count" aria-live="polite"></span>
</div>
<svg id="graph" class="graph" role="img" aria-label="Connections graph"></svg>
