"""The viewer in a real browser: Debian's chromium, headless, driven by npm's playwright-core.

Needs ``scripts/test-browser-deps.sh`` (chromium from apt, playwright-core from npm); skips with the
reason when either is missing. Screenshots of every page go to artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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

  // click a value in the table to refine
  const dst = page.locator("#sessions tbody tr.session td:nth-child(5) button.value").first();
  out.clickedValue = await dst.textContent();
  await dst.click();
  await page.waitForFunction(() => decodeURIComponent(location.search).includes("ip.dst"));
  await page.waitForTimeout(300);
  out.refinedExpression = await page.inputValue("#expression");
  out.refinedRows = await page.locator("#sessions tbody tr.session").count();

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
  await shot("packets");

  // SPI view: click a value to refine
  await page.goto(base + "/spiview?date=-1");
  await page.waitForSelector("#spi section li button.value");
  await shot("spiview");
  out.spiValue = await page.locator("#spi section li button.value").first().textContent();
  await page.locator("#spi section li button.value").first().click();
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
    assert r["refinedExpression"].startswith("(protocols == dns) && ip.dst == ")
    assert r["clickedValue"] in r["refinedExpression"]
    assert 0 < r["refinedRows"] <= r["firstRows"]


def test_detail_download_paging_and_sort(browser_run: dict) -> None:
    r = browser_run
    assert "general" in r["detailGroups"]
    assert r["pcapBytes"] > 24
    assert r["page"].startswith("page 2 of")
    assert r["sorted"] == "descending"
    assert r["packets"] > 0


def test_spiview_click_and_other_pages(browser_run: dict) -> None:
    r = browser_run
    assert r["spiValue"] in r["spiExpression"]
    assert r["graphNodes"] > 0
    for name in ("login", "sessions", "session-detail", "packets", "spiview", "connections", "files", "stats",
                 "users", "settings", "sessions-dark"):
        assert (SHOTS / f"{name}.png").stat().st_size > 1000, name


def test_nothing_loaded_from_elsewhere_and_no_script_errors(browser_run: dict) -> None:
    assert browser_run["external"] == []
    assert browser_run["errors"] == []
    assert browser_run["darkBackground"] != "rgb(250, 250, 250)"
