"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a live server.

AppTest runs a page's script but not the browser: it cannot see a component that fails to
render, a page that never finishes, or a navigation that points nowhere. This test starts
``streamlit run`` on a free loopback port over the demo store, visits every page, fails on any
Streamlit exception box, records how long each page takes to finish its script, and saves a
screenshot of each page under ``tests/artifacts/`` (ignored by git; CI keeps it).

``scripts/test.sh`` installs Chromium (Debian's package) and the ``playwright`` Python package
when they are missing; Playwright's own browser download cannot work on a closed network, so
the browser is launched from ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAGES_DIR = APP.parent / "views"
# Without these, Chromium keeps dialling Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
SCRIPT_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGE_TIMEOUT_MS = 120_000  # a cold server imports torch on the first page it serves


def chromium_path() -> str:
    """Debian's Chromium, which scripts/test.sh installs; the test fails without it."""
    path = os.environ.get("GENZOO_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium not found: scripts/test.sh installs Debian's 'chromium' package "
                    "(apt-get install chromium), or set GENZOO_CHROMIUM to a Chromium binary")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_paths() -> list[str]:
    """Every page file's URL path; the default page (Overview) is served at the root."""
    stems = sorted(p.stem for p in PAGES_DIR.glob("*.py") if p.stem != "__init__")
    return ["" if stem == "overview" else stem for stem in stems]


@pytest.fixture(scope="module")
def browser_home(demo_home, tmp_path_factory) -> Path:
    """A copy of the demo store: the Train page adds a run, which other tests must not see."""
    home = tmp_path_factory.mktemp("browser") / "home"
    shutil.copytree(demo_home, home)
    return home


@pytest.fixture(scope="module")
def server(browser_home, tmp_path_factory):
    """``streamlit run dashboard/app.py`` on a free loopback port over the demo store."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "GENZOO_HOME": str(browser_home), "GENZOO_PLUGINS": "",
           "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the 'playwright' package is missing: scripts/test.sh installs the test "
                    "extras (pip install -e '.[test]')")

    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chrome
        finally:
            chrome.close()


def open_page(browser, url: str) -> tuple[object, float]:
    """Load ``url`` in a fresh tab; seconds until the page's script finished running."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1600})
    start = time.perf_counter()
    tab.goto(url, wait_until="domcontentloaded")
    # the app reads "notRunning" before its first script run has begun too: the page is there
    # when its heading is drawn and no script runs
    tab.wait_for_function(
        """(done) => document.querySelector("h1") && document.querySelector(done)""",
        arg=SCRIPT_DONE, timeout=PAGE_TIMEOUT_MS)
    return tab, time.perf_counter() - start


def settle(tab) -> None:
    """Wait for lazily loaded parts (plotly's bundle) to finish drawing."""
    tab.wait_for_load_state("networkidle")
    tab.wait_for_timeout(300)


# Every plotly chart on the page has drawn its SVG: what a user sees as "loaded".
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every(chart => chart.querySelector(".main-svg"))"""


def navigate(tab, title: str, previous_heading: str) -> tuple[float, float]:
    """Click ``title`` in the sidebar, as a user moves between pages; seconds until the new
    page's script finished (the heading changed and the app is idle again), and until its
    charts were drawn too."""
    start = time.perf_counter()
    tab.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    tab.wait_for_function(
        """([previous, done]) => {
            const h1 = document.querySelector("h1");
            return h1 && h1.innerText.trim() !== previous && document.querySelector(done);
        }""", arg=[previous_heading, SCRIPT_DONE], timeout=PAGE_TIMEOUT_MS)
    script = time.perf_counter() - start
    tab.wait_for_function(CHARTS_DRAWN, timeout=PAGE_TIMEOUT_MS)
    return script, time.perf_counter() - start


def exception_boxes(tab) -> list[str]:
    return [box.inner_text() for box in tab.locator('[data-testid="stException"]').all()]


def heading(tab) -> str:
    # as long as a page may take: on two busy cores a heading can come seconds after the rest
    return tab.locator("h1").first.inner_text(timeout=PAGE_TIMEOUT_MS).strip()


def test_every_page_renders_without_an_exception_and_is_screenshotted(server, browser):
    """Each page opened in a new tab (which fills its caches: samples drawn, models loaded),
    then every page reached from the sidebar as a user moves between them: that time is what
    a user waits for a page from cached results."""
    ARTIFACTS.mkdir(exist_ok=True)
    # The server's first visitor follows a link to a page, not to the root (a bookmark): it
    # must get the app (its sections in the sidebar, its wide layout), not a bare page script.
    warm_up, _ = open_page(browser, f"{server}/speed")  # also the cold imports (torch, plotly)
    nav = warm_up.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("Compare", exact=True).wait_for(timeout=30_000)
    assert "genzoo" in warm_up.locator('[data-testid="stSidebar"]').inner_text()
    assert heading(warm_up) == "Speed"
    warm_up.close()
    paths = page_paths()
    timings, failures, titles = {}, {}, {}
    for path in paths:
        name = path or "overview"
        tab, seconds = open_page(browser, f"{server}/{path}")
        settle(tab)
        titles[name] = heading(tab)
        assert titles[name], f"page {name!r} shows no title"
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        timings[name] = {"new_tab_s": round(seconds, 3)}
        if boxes := exception_boxes(tab):
            failures[name] = boxes
        tab.close()

    tab, _ = open_page(browser, server)
    # a link's text is its icon's ligature name, then its title
    links = [link.inner_text().strip().split("\n")[-1] for link in
             tab.locator('[data-testid="stSidebarNav"] a').all()]
    assert len(links) == len(paths), links
    previous = heading(tab)
    for link in [*links[1:], links[0]]:  # every page, the overview last
        script, drawn = navigate(tab, link, previous)
        previous = heading(tab)
        name = next(n for n, title in titles.items() if title == previous)
        timings[name].update(sidebar_click_s=round(script, 3), sidebar_drawn_s=round(drawn, 3))
        if boxes := exception_boxes(tab):
            failures[name] = boxes
    tab.close()
    (ARTIFACTS / "page_load_seconds.json").write_text(json.dumps(timings, indent=2))
    print("\npage load in seconds (script finished; charts drawn):", json.dumps(timings))
    assert not failures, failures
    assert len(timings) == len(paths) >= 8
    assert all("sidebar_click_s" in t for t in timings.values()), timings


def test_two_browser_sessions_at_once_each_get_a_whole_page(server, browser):
    tabs = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        for tab in tabs:  # both requests in flight before either page is waited for
            tab.goto(f"{server}/likelihood", wait_until="domcontentloaded")
        for tab in tabs:
            tab.wait_for_selector(SCRIPT_DONE, timeout=PAGE_TIMEOUT_MS)
            tab.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)
            assert not exception_boxes(tab)
            assert tab.get_by_text("pixelcnn").first.is_visible()
    finally:
        for tab in tabs:
            tab.close()


def status(home: Path, run_id: str) -> str | None:
    from genzoo.registry.errors import NotFound
    from genzoo.registry.store import RunStore

    try:
        return RunStore(home).get(run_id).status
    except NotFound:
        return None


def test_a_run_started_from_the_train_page_trains_to_the_end(server, browser, browser_home):
    from genzoo.registry.store import RunStore

    tab, _ = open_page(browser, f"{server}/train")
    try:
        assert not exception_boxes(tab)
        # the defaults: pixelcnn on digits, a budget in steps; 5 steps keep it short
        steps = tab.get_by_role("spinbutton", name="Steps")
        steps.fill("5")
        steps.press("Tab")
        tab.get_by_role("button", name="Queue training").click()
        started = tab.get_by_text("Queued run").first
        started.wait_for(timeout=60_000)
        run_id = started.inner_text().split("Queued run")[1].split()[0].strip("`")
        # the page follows the run live (no reload) until the trainer reports it completed;
        # the trainer's process creates the run once its imports are done
        deadline = time.monotonic() + 240
        while status(browser_home, run_id) != "completed":
            assert time.monotonic() < deadline, status(browser_home, run_id)
            assert status(browser_home, run_id) not in ("failed", "cancelled", "interrupted")
            time.sleep(1)
        tab.get_by_text("Held-out score").first.wait_for(timeout=30_000)
        record = RunStore(browser_home).get(run_id)
        assert record.model == "pixelcnn" and record.dataset == "digits" and record.step == 5
        tab.screenshot(path=str(ARTIFACTS / "train-completed.png"), full_page=True)
        assert not exception_boxes(tab)
    finally:
        tab.close()
