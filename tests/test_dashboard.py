"""The dashboard in a real browser: headless Chromium from the system's packages, driven by Playwright.

Starts `sim dashboard` on a free port, changes a slider, runs the ensemble,
checks that the fan chart and the outcome table changed, exports the what-if
as YAML, and checks that `sim run` on the exported file gives the outcome
shares the app showed. Screenshots go to test-output/dashboard/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import REPO

CHROMIUM = os.environ.get("SIM_CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO / "test-output" / "dashboard"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "dashboard", "kosovo_2021", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail("the dashboard did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def shares(text: str) -> dict[str, str]:
    return dict(re.findall(r"(resolved|still tense|armed clash)\s+([\d.]+%)", text))


def test_slider_run_export_and_rerun_from_the_cli(server, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.goto(server)
        page.wait_for_selector("text=Set the sliders", timeout=90_000)
        page.screenshot(path=SHOTS / "1-start.png")

        page.get_by_role("button", name="Run").click()
        page.wait_for_selector("text=Median peak", timeout=90_000)
        page.wait_for_selector("button:has-text('Run'):not([disabled])", timeout=90_000)
        table = page.locator("table", has_text="armed clash")
        before = shares(table.inner_text())
        chart_before = page.locator("img").last.get_attribute("src")
        page.screenshot(path=SHOTS / "2-baseline.png")
        assert set(before) == {"resolved", "still tense", "armed clash"}

        control = page.locator(".v-input", has_text="mediation.weight")
        thumb = control.get_by_role("slider")
        start = float(thumb.get_attribute("aria-valuenow"))
        thumb.focus()
        for _ in range(15):  # weaker EU mediation: 15 steps of 0.07 down
            page.keyboard.press("ArrowLeft")
        # the slider reports to the server asynchronously: run only once its value has
        # settled at the new setting and had time to reach the server
        target = round(start - 15 * 0.07, 2)
        deadline = time.time() + 30
        while abs(float(thumb.get_attribute("aria-valuenow")) - target) > 1e-6 and time.time() < deadline:
            time.sleep(0.2)
        assert abs(float(thumb.get_attribute("aria-valuenow")) - target) < 1e-6
        time.sleep(2.0)
        page.get_by_role("button", name="Run").click()
        page.wait_for_function(
            "([old]) => { const t = [...document.querySelectorAll('table')]"
            ".find(t => t.innerText.includes('armed clash')); return t && t.innerText !== old; }",
            arg=[table.inner_text()],
            timeout=90_000,
        )
        page.wait_for_selector("button:has-text('Run'):not([disabled])", timeout=90_000)
        after = shares(page.locator("table", has_text="armed clash").inner_text())
        chart_after = page.locator("img").last.get_attribute("src")
        page.screenshot(path=SHOTS / "3-weaker-mediation.png")
        assert after != before and chart_after != chart_before
        assert float(after["armed clash"].rstrip("%")) > float(before["armed clash"].rstrip("%"))

        page.get_by_role("tab", name="Export").click()
        page.get_by_text("Export scenario YAML").wait_for(timeout=30_000)
        time.sleep(1.0)  # let the tab's transition finish before the screenshot
        page.screenshot(path=SHOTS / "4-export.png")
        with page.expect_download() as download:
            page.get_by_text("Export scenario YAML").click()
        exported = tmp_path / "whatif.yaml"
        download.value.save_as(exported)
        browser.close()

    assert "mediation" in exported.read_text()
    out = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(exported), "--runs", "300", "--out", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shares(out) == after
