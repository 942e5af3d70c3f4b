% rebase('base.tpl', title=title, scripts=['spiview.js'])
% include('_search.tpl')
<p id="count" aria-live="polite"></p>
<div id="spi" class="spi"></div>
