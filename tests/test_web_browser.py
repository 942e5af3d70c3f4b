"""The viewer in a real browser: Debian's chromium, headless, driven by npm's playwright-core.

Needs ``scripts/test-browser-deps.sh`` (chromium from apt, playwright-core from npm); skips with the
reason when either is missing. Screenshots of every page go to artifacts/screenshots/.
"""

from __future__ import annotations

import calendar
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from test_web_server import PASSWORD, Served, served  # noqa: F401 - the fixture is shared

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
PLAYWRIGHT_DIR = Path(os.environ.get("FUKUROU_PLAYWRIGHT_DIR", Path.home() / ".cache/fukurou-playwright"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

SCRIPT = r"""
const { chromium } = require("playwright-core");
const [base, password, shots, exe] = process.argv.slice(2);
const out = {};
const errors = [];
let page;
(async () => {
  const browser = await chromium.launch({ executablePath: exe, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  // A 400 is expected once: the inline syntax check of a bad expression.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("status of 400")) errors.push(m.text()); });
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  await page.goto(base + "/sessions?date=-1");
  out.redirectedToLogin = page.url().includes("/login");
  await shot("login");
  await page.fill('input[name="name"]', "admin");
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.waitForSelector("#sessions tbody tr.session");
  out.firstRows = await page.locator("#sessions tbody tr.session").count();
  out.count = await page.textContent("#count");
  await page.waitForSelector("#histogram canvas");
  await shot("sessions");
  const total = await page.textContent("#count");

  // the chart: sessions and bytes by default, packets on request
  out.seriesDefault = await page.getAttribute("#histogram", "data-series");
  await page.check("#show-packets");
  await page.uncheck("#show-bytes");
  out.seriesToggled = await page.getAttribute("#histogram", "data-series");
  await page.check("#show-bytes");
  await page.uncheck("#show-packets");

  // zoom by drag: the selection becomes a custom range, and "Reset zoom" goes back to the preset
  const over = await page.locator("#histogram .u-over").boundingBox();
  await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.7, over.y + over.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => location.search.includes("startTime") && location.search.includes("stopTime"));
  await page.waitForFunction((t) => document.querySelector("#count").textContent !== t, total);
  const zoomed = new URLSearchParams(await page.evaluate(() => location.search));
  out.zoom = { startTime: +zoomed.get("startTime"), stopTime: +zoomed.get("stopTime"), date: zoomed.get("date"),
    select: await page.inputValue("#date"), from: await page.inputValue("#startTime"), to: await page.inputValue("#stopTime"),
    count: await page.textContent("#count"), total, resetVisible: await page.isVisible("#zoom-reset"),
    rowStops: await page.locator("#sessions tbody tr.session td:nth-child(2)").allTextContents() };
  await shot("sessions-zoomed");
  await page.click("#zoom-reset");
  await page.waitForFunction(() => !location.search.includes("startTime"));
  await page.waitForFunction((t) => document.querySelector("#count").textContent === t, total);
  out.zoomReset = { select: await page.inputValue("#date"), resetVisible: await page.isVisible("#zoom-reset"),
    rangeVisible: await page.isVisible("#range") };

  // a custom time range, typed (UTC); a start after the stop is refused in place
  await page.selectOption("#date", "custom");
  out.rangeShown = await page.isVisible("#startTime");
  await page.fill("#startTime", "2019-06-01T00:00:00");
  await page.fill("#stopTime", "2019-01-01T00:00:00");
  await page.click('#search button[type="submit"]');
  await page.waitForSelector("#expr-error:not([hidden])");
  out.rangeError = await page.textContent("#expr-error");
  await page.fill("#startTime", "2019-01-01T00:00:00");
  await page.fill("#stopTime", "2020-01-01T00:00:00");
  await page.click('#search button[type="submit"]');
  await page.waitForFunction(() => location.search.includes("startTime=1546300800"));
  await page.waitForFunction((t) => document.querySelector("#count").textContent !== t, total);
  out.custom = { search: decodeURIComponent(await page.evaluate(() => location.search)), count: await page.textContent("#count"),
    stops: await page.locator("#sessions tbody tr.session td:nth-child(2)").allTextContents(),
    errorHidden: await page.isHidden("#expr-error") };
  await page.selectOption("#date", "-1");
  await page.waitForFunction(() => !location.search.includes("startTime"));
  await page.waitForFunction((t) => document.querySelector("#count").textContent === t, total);

  // "/" goes to the search expression
  await page.locator("h1, #count").first().click();
  await page.keyboard.press("/");
  out.slashFocus = await page.evaluate(() => document.activeElement.id);

  // inline syntax error, then a real search
  await page.fill("#expression", "ip.src == ");
  await page.waitForSelector("#expr-error:not([hidden])");
  out.syntaxError = await page.textContent("#expr-error");
  await page.fill("#expression", "protocols == dns");
  await page.press("#expression", "Enter");
  await page.waitForFunction(() => document.querySelector("#count").textContent.startsWith(""));
  await page.waitForFunction(() => location.search.includes("protocols"));
  await page.waitForTimeout(300);
  out.searchCount = await page.textContent("#count");

  // a click on a value opens its menu; "and" refines the search
  const dst = page.locator("#sessions tbody tr.session td:nth-child(5) button.value").first();
  out.clickedValue = await dst.textContent();
  await dst.click();
  await page.waitForSelector(".value-menu");
  out.menuItems = await page.locator('.value-menu [role="menuitem"]').allTextContents();
  out.menuFocus = await page.evaluate(() => document.activeElement.dataset.how);
  await shot("value-menu");
  await page.click('.value-menu [data-how="and"]');
  await page.waitForFunction(() => decodeURIComponent(location.search).includes("ip.dst"));
  await page.waitForTimeout(300);
  out.refinedExpression = await page.inputValue("#expression");
  out.refinedRows = await page.locator("#sessions tbody tr.session").count();
  out.menuClosed = await page.locator(".value-menu").count() === 0;

  // "or" from the menu, then "and not" with the keyboard only (Enter opens, arrows move, Enter picks)
  const src = page.locator("#sessions tbody tr.session td:nth-child(3) button.value").first();
  out.orValue = await src.textContent();
  await src.click();
  await page.click('.value-menu [data-how="or"]');
  await page.waitForFunction(() => decodeURIComponent(location.search).includes("||"));
  await page.waitForTimeout(300);
  out.orExpression = await page.inputValue("#expression");
  out.orRows = await page.locator("#sessions tbody tr.session").count();
  await page.fill("#expression", "protocols == tcp");
  await page.press("#expression", "Enter");
  await page.waitForFunction(() => new URLSearchParams(location.search).get("expression") === "protocols == tcp");
  await page.waitForTimeout(300);
  const port = page.locator("#sessions tbody tr.session td:nth-child(6) button.value").first();
  out.notValue = await port.textContent();
  await port.focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector(".value-menu");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  out.notFocus = await page.evaluate(() => document.activeElement.textContent);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => decodeURIComponent(location.search).includes("!="));
  await page.waitForTimeout(300);
  out.notExpression = await page.inputValue("#expression");
  out.notPorts = await page.locator("#sessions tbody tr.session td:nth-child(6)").allTextContents();
  // Escape closes a menu and gives the focus back to its value
  await port.focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector(".value-menu");
  await page.keyboard.press("Escape");
  out.escape = { closed: await page.locator(".value-menu").count() === 0,
                 focusBack: await page.evaluate(() => document.activeElement.classList.contains("value")) };
  // Shift-click ORs straight away
  const before = await page.inputValue("#expression");
  await page.locator("#sessions tbody tr.session td:nth-child(4) button.value").first().click({ modifiers: ["Shift"] });
  await page.waitForFunction((b) => document.querySelector("#expression").value !== b, before);
  out.shiftExpression = await page.inputValue("#expression");
  out.shiftBefore = before;

  // "new tab" is a link to the value's sessions; Ctrl-click opens the same in a new tab
  const tabValue = await dst.textContent();
  await dst.click();
  const tab = page.locator('.value-menu a[data-how="tab"]');
  out.newTab = { value: tabValue, href: await tab.getAttribute("href"), target: await tab.getAttribute("target") };
  const [opened] = await Promise.all([context.waitForEvent("page"), tab.click()]);
  await opened.waitForLoadState();
  await opened.waitForSelector("#sessions tbody tr.session");
  out.newTab.url = decodeURIComponent(opened.url());
  out.newTab.expression = await opened.inputValue("#expression");
  out.newTab.rows = await opened.locator("#sessions tbody tr.session").count();
  await opened.close();
  const [ctrlOpened] = await Promise.all([context.waitForEvent("page"),
    page.locator("#sessions tbody tr.session td:nth-child(5) button.value").first().click({ modifiers: ["Control"] })]);
  await ctrlOpened.waitForLoadState();
  out.ctrlTab = new URL(ctrlOpened.url()).searchParams.get("expression");
  await ctrlOpened.close();

  // open the detail of a session, download its pcap
  await page.locator("#sessions tbody tr.session td:first-child").first().click();  // not on a value button
  await page.waitForSelector(".detail-row .detail dl");
  out.detailGroups = await page.locator(".detail-row .detail section h3").allTextContents();
  await shot("session-detail");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(".detail-row a.dl")]);
  const path = await download.path();
  out.pcapBytes = require("fs").statSync(path).size;

  // paging over everything
  await page.goto(base + "/sessions?date=-1&length=50");
  await page.waitForSelector("#sessions tbody tr.session");
  const firstId = await page.locator("#sessions tbody tr.session").first().getAttribute("data-id");
  await page.click("#next");
  await page.waitForFunction((id) => document.querySelector("#sessions tbody tr.session")?.getAttribute("data-id") !== id, firstId);
  out.page = await page.textContent("#page");
  // sort by bytes
  await page.click('th[data-sort="network.bytes"] button');
  await page.waitForFunction(() => location.search.includes("order="));
  await page.waitForTimeout(300);
  out.sorted = await page.getAttribute('th[data-sort="network.bytes"]', "aria-sort");

  // the packets page of one session
  const sid = await page.locator("#sessions tbody tr.session").first().getAttribute("data-id");
  await page.goto(base + "/session/" + sid);
  await page.waitForSelector("#packet-list .packet");
  out.packets = await page.locator("#packet-list .packet").count();

  // an HTTP session: packet by packet or reassembled, as hex, ASCII or UTF-8
  const find = (expression) => page.evaluate((e) => Fk.api("/api/sessions?date=-1&length=1&fields=network.packets&expression=" +
    encodeURIComponent(e)).then((r) => r.data[0]), expression);
  const http = await find("http.method == GET && packets >= 8");
  await page.goto(base + "/session/" + http.id);
  await page.waitForSelector("#packet-list .packet");
  const pre = () => page.locator("#packet-list .packet pre").allTextContents();
  const view = async () => ({ sections: await page.locator("#packet-list .packet").count(),
    src: await page.locator("#packet-list .packet.src").count(), dst: await page.locator("#packet-list .packet.dst").count(),
    text: (await pre()).join("\n"), count: await page.textContent("#packet-count"), search: await page.evaluate(() => location.search) });
  out.http = { packets: http["network.packets"], pcap: await page.getAttribute("#download", "href"),
    controls: [await page.inputValue("#view"), await page.inputValue("#enc"), await page.inputValue("#first")] };
  out.http.perPacket = await view();
  out.http.colours = await page.evaluate(() => ["src", "dst"].map((d) => getComputedStyle(document.querySelector("#packet-list .packet." + d)).backgroundColor));
  await page.evaluate(() => document.getElementById("packets").scrollIntoView());
  await shot("packets");
  await page.selectOption("#view", "reassembled");
  await page.waitForFunction(() => /blocks/.test(document.querySelector("#packet-count").textContent));
  out.http.reassembled = await view();
  out.http.firstBlock = await page.locator("#packet-list .packet pre").first().textContent();
  await page.selectOption("#enc", "ascii");
  out.http.ascii = await view();
  await page.evaluate(() => document.getElementById("packets").scrollIntoView());
  await shot("packets-reassembled");
  await page.selectOption("#enc", "utf8");
  out.http.utf8 = await view();
  await page.reload();  // the choices are in the URL
  await page.waitForSelector("#packet-list .packet");
  out.http.reloaded = [await page.inputValue("#view"), await page.inputValue("#enc")];

  // first N packets of a long session
  const long = await find("packets >= 120");
  await page.goto(base + "/session/" + long.id);
  await page.waitForSelector("#packet-list .packet");
  await page.selectOption("#first", "50");
  await page.waitForFunction(() => document.querySelectorAll("#packet-list .packet").length === 50);
  out.firstN = { total: long["network.packets"], fifty: await view() };
  await page.selectOption("#first", "200");
  await page.waitForFunction(() => document.querySelectorAll("#packet-list .packet").length > 50);
  out.firstN.twoHundred = await page.locator("#packet-list .packet").count();

  // SPI view: click a value to refine
  await page.goto(base + "/spiview?date=-1");
  await page.waitForSelector("#spi section li button.value");
  await shot("spiview");
  out.spiValue = await page.locator("#spi section li button.value").first().textContent();
  await page.locator("#spi section li button.value").first().click();
  await page.click('.value-menu [data-how="and"]');
  await page.waitForFunction(() => location.search.includes("expression"));
  out.spiExpression = await page.inputValue("#expression");

  for (const name of ["connections", "files", "stats", "users", "settings"]) {
    await page.goto(base + "/" + name + "?date=-1");
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(name === "connections" ? 1500 : 200);
    await shot(name);
  }
  await page.goto(base + "/connections?date=-1");
  await page.waitForSelector("#graph g.node");
  out.graphNodes = await page.locator("#graph g.node").count();

  // Settings: choose the Sessions columns (kept with the user), then back to the default
  await page.goto(base + "/settings");
  await page.waitForSelector("#column-list li");
  out.columnChoices = await page.locator("#column-list input").evaluateAll((inputs) => inputs.map((i) => i.value));
  await page.uncheck('#column-list input[value="stop"]');
  await page.uncheck('#column-list input[value="info"]');
  await page.check('#column-list input[value="databytes"]');
  await page.check('#column-list input[value="node"]');
  await page.check('#column-list input[value="communityId"]');
  for (let i = 0; i < 3; i++) await page.click('#column-list li[data-col="databytes"] button.up');  // just after Bytes
  await page.click('#columns button[type="submit"]');
  // Saved on the server: the message comes once the POST has answered.
  await page.waitForFunction(() => (document.querySelector("#columns .msg")?.textContent || "").length > 0);
  out.columnsSaved = await page.textContent("#columns .msg");
  await shot("settings-columns");
  const asked = [];
  page.on("request", (r) => { if (r.url().includes("/api/sessions?")) asked.push(new URL(r.url()).searchParams.get("fields")); });
  await page.goto(base + "/sessions?date=-1");
  await page.waitForSelector("#sessions tbody tr.session");
  const cols = async () => page.locator("#sessions thead th").allTextContents();
  out.columns = { heads: await cols(), fields: asked[asked.length - 1],
    node: await page.locator('#sessions tbody tr.session td:nth-child(9) button.value').first().textContent(),
    databytes: await page.locator("#sessions tbody tr.session td:nth-child(8)").first().textContent(),
    sortable: await page.locator('#sessions th[data-sort="totDataBytes"] button').count() };
  await page.click('#sessions th[data-sort="totDataBytes"] button');
  await page.waitForFunction(() => location.search.includes("order=totDataBytes"));
  await page.waitForTimeout(300);
  out.columns.sorted = await page.getAttribute('th[data-sort="totDataBytes"]', "aria-sort");
  await shot("sessions-columns");
  // The choice is the user's, not the browser's: a fresh browser profile logged in as the same user.
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const second = await other.newPage();
  await second.goto(base + "/sessions?date=-1");
  await second.fill('input[name="name"]', "admin");
  await second.fill('input[name="password"]', password);
  await second.click('button[type="submit"]');
  await second.waitForSelector("#sessions tbody tr.session");
  out.columns.otherBrowser = await second.locator("#sessions thead th").allTextContents();
  await other.close();
  await page.goto(base + "/settings");
  await page.waitForSelector("#column-list li");
  await page.click("#columns-default");
  await page.waitForFunction(() => (document.querySelector("#columns .msg")?.textContent || "").includes("default"));
  await page.goto(base + "/sessions?date=-1");
  await page.waitForSelector("#sessions tbody tr.session");
  out.columns.reset = await cols();

  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(base + "/sessions?date=-1");
  await page.waitForSelector("#sessions tbody tr.session");
  await shot("sessions-dark");
  out.darkBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);

  out.external = external;
  out.errors = errors;
  await browser.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ failed: String(e.stack || e), ...out, errors, url: page.url() })); process.exit(1); });
"""


def _requirements() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (run scripts/test-browser-deps.sh)"
    if not shutil.which("node"):
        return "node is not installed"
    if not (PLAYWRIGHT_DIR / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not in {PLAYWRIGHT_DIR} (run scripts/test-browser-deps.sh)"
    return None


@pytest.fixture(scope="module")
def browser_run(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    missing = _requirements()
    if missing:
        pytest.skip(missing)
    SHOTS.mkdir(parents=True, exist_ok=True)
    script = tmp_path_factory.mktemp("browser") / "run.js"
    script.write_text(SCRIPT)
    env = {**os.environ, "NODE_PATH": str(PLAYWRIGHT_DIR / "node_modules")}
    done = subprocess.run(["node", str(script), f"http://{served.host}:{served.port}", PASSWORD, str(SHOTS), CHROMIUM],
                          capture_output=True, text=True, timeout=300, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert "failed" not in result, result
    return result


def test_login_search_and_refine(browser_run: dict) -> None:
    r = browser_run
    assert r["redirectedToLogin"]
    assert r["firstRows"] > 0
    assert "expected a value" in r["syntaxError"]
    assert r["menuItems"][:4] == ["and", "or", "and not", "new tab ↗"] and r["menuFocus"] == "and"
    assert r["refinedExpression"].startswith("(protocols == dns) && ip.dst == ")
    assert r["clickedValue"] in r["refinedExpression"]
    assert 0 < r["refinedRows"] <= r["firstRows"] and r["menuClosed"]
    assert r["slashFocus"] == "expression"


def test_or_and_not_refinements_and_new_tabs(browser_run: dict) -> None:
    r = browser_run
    assert r["orExpression"] == f"({r['refinedExpression']}) || ip.src == {r['orValue']}"
    assert r["orRows"] >= r["refinedRows"]
    assert r["notFocus"] == "and not"
    assert r["notExpression"] == f"(protocols == tcp) && port.dst != {r['notValue']}"
    assert r["notPorts"] and r["notValue"] not in r["notPorts"]
    assert r["escape"] == {"closed": True, "focusBack": True}
    assert r["shiftExpression"].startswith(f"({r['shiftBefore']}) || port.src == ")
    tab = r["newTab"]
    assert tab["target"] == "_blank" and tab["href"].startswith("/sessions?")
    assert tab["expression"] == f"ip.dst == {tab['value']}" and "date=-1" in tab["url"] and tab["rows"] > 0
    assert r["ctrlTab"].startswith("ip.dst == ")


def test_histogram_series_zoom_and_custom_range(browser_run: dict) -> None:
    r = browser_run
    assert r["seriesDefault"] == "sessions bytes" and r["seriesToggled"] == "sessions packets"
    z = r["zoom"]
    assert 0 < z["startTime"] < z["stopTime"] and z["date"] == "-1"  # the preset stays, to go back to
    assert z["select"] == "custom" and z["resetVisible"] and z["from"] and z["to"]
    zoomed, total = int(z["count"].split()[0]), int(z["total"].split()[0])
    assert 0 < zoomed < total
    stops = [calendar.timegm(time.strptime(t, "%Y-%m-%d %H:%M:%S")) for t in z["rowStops"]]
    assert stops and all(z["startTime"] <= t <= z["stopTime"] for t in stops)
    assert r["zoomReset"] == {"select": "-1", "resetVisible": False, "rangeVisible": False}
    assert r["rangeShown"] and "before the stop" in r["rangeError"]
    c = r["custom"]
    assert "startTime=1546300800" in c["search"] and "stopTime=1577836800" in c["search"] and c["errorHidden"]
    assert c["stops"] and all(t.startswith("2019-") for t in c["stops"])
    assert 0 < int(c["count"].split()[0]) < total


def test_detail_download_paging_and_sort(browser_run: dict) -> None:
    r = browser_run
    assert "general" in r["detailGroups"]
    assert r["pcapBytes"] > 24
    assert r["page"].startswith("page 2 of")
    assert r["sorted"] == "descending"
    assert r["packets"] > 0


def test_packets_views_encodings_and_first_n(browser_run: dict) -> None:
    h = browser_run["http"]
    assert h["controls"] == ["packets", "hex", "200"] and h["pcap"].endswith(".pcap")
    per = h["perPacket"]
    assert per["sections"] == h["packets"] and per["src"] and per["dst"]
    assert "00000  47 45 54 20" in per["text"]  # "GET " in hex, beside its ASCII
    src_bg, dst_bg = h["colours"]
    assert src_bg != dst_bg
    joined = h["reassembled"]
    assert 1 < joined["sections"] < per["sections"] and "view=reassembled" in joined["search"]
    assert h["firstBlock"].startswith("00000  47 45 54 20") and "blocks from" in joined["count"]
    assert h["ascii"]["text"].startswith("GET /") and "\nHost: " in h["ascii"]["text"] and "00000" not in h["ascii"]["text"]
    assert h["utf8"]["text"].startswith("GET /") and "enc=utf8" in h["utf8"]["search"]
    assert h["reloaded"] == ["reassembled", "utf8"]
    n = browser_run["firstN"]
    assert n["fifty"]["sections"] == 50 and f"first 50 of {n['total']}" in n["fifty"]["count"]
    assert "packets=50" in n["fifty"]["search"]
    assert n["twoHundred"] == min(200, n["total"])


def test_columns_setting_applies_to_the_table(browser_run: dict) -> None:
    c = browser_run["columns"]
    assert browser_run["columnsSaved"].startswith("Saved")
    assert c["heads"] == ["Start", "Src IP", "Src port", "Dst IP", "Dst port", "Packets", "Bytes", "Data bytes", "Node",
                          "Community ID"]
    assert set(c["fields"].split(",")) == {"firstPacket", "source.ip", "source.port", "destination.ip",
                                           "destination.port", "network.packets", "network.bytes", "totDataBytes",
                                           "node", "network.community_id"}
    assert c["node"] and c["databytes"].endswith("B") and c["sortable"] == 1 and c["sorted"] == "descending"
    assert c["otherBrowser"] == c["heads"]  # kept with the user on the server, not in one browser
    assert c["reset"] == ["Start", "Stop", "Src IP", "Src port", "Dst IP", "Dst port", "Packets", "Bytes", "Info"]
    # Logins and certificate names can be columns (their fields are in the registry).
    assert {"user", "certAlt", "dnsHost"} <= set(browser_run["columnChoices"])


def test_spiview_click_and_other_pages(browser_run: dict) -> None:
    r = browser_run
    assert r["spiValue"] in r["spiExpression"]
    assert r["graphNodes"] > 0
    for name in ("login", "sessions", "sessions-zoomed", "value-menu", "session-detail", "packets",
                 "packets-reassembled", "spiview", "connections", "files", "stats", "users", "settings",
                 "settings-columns", "sessions-columns", "sessions-dark"):
        assert (SHOTS / f"{name}.png").stat().st_size > 1000, name


def test_nothing_loaded_from_elsewhere_and_no_script_errors(browser_run: dict) -> None:
    assert browser_run["external"] == []
    assert browser_run["errors"] == []
    assert browser_run["darkBackground"] != "rgb(250, 250, 250)"
