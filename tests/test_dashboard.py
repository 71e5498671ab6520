"""The dashboard: what the page does with what a browser sends, the server around it, and a real browser.

The first tests render the page in this process and set its widgets as a
browser's messages would (including values no honest page sends). The others
start `sim dashboard` on a free port: the websocket Origin check, the session
lifetime, no network call, stopping on SIGTERM and Ctrl-C, and headless
Chromium (from the system's packages, driven by Playwright) changing a slider,
running, comparing with the base, exporting the what-if and checking that
`sim run` on the export gives the outcome shares the page showed.
Screenshots go to test-output/dashboard/.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from sim import load_scenario
from sim.app.whatif import controls

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


# ------------------------------------------------------------------ the page, in this process


@pytest.fixture
def page():
    """The page rendered here; its widgets are set as a browser's messages set them."""
    import solara

    import sim.app.dashboard as d

    _, rc = solara.render(solara.AppLayout(children=[d.Page()]), handle_error=False)
    yield d, rc
    rc.close()
    for state, value in [
        (d.scenario_name, d.START),
        (d.overrides, {}),
        (d.extra_events, []),
        (d.runs, 300),
        (d.result, None),
        (d.comparison, None),
        (d.error, ""),
    ]:
        state.set(value)


def widget(rc, kind: str, label: str):
    import ipyvuetify as v

    return rc.find(getattr(v, kind), label=label).widget


def vuetify_snap(value: float, low: float, high: float, step: float) -> float:
    """Where Vuetify 2's slider puts a value (VSlider.roundValue), as the browser then reports it."""
    decimals = len(str(step).split(".")[1]) if "." in str(step) else 0
    offset = math.fmod(low, step)
    snapped = math.floor((value - offset) / step + 0.5) * step + offset
    return float(f"{min(snapped, high):.{decimals}f}")


def test_the_picker_loads_only_listed_scenarios(page):
    d, rc = page
    picker = widget(rc, "Select", "Scenario")
    for sent in ("/etc/passwd", "../../etc/passwd", "kosovo_2021.yaml", ["kosovo_2021"], None):
        picker.v_model = sent
        assert d.scenario_name.value == d.START  # nothing loaded
        assert "scenario: expected one of the listed scenarios" in d.error.value
        assert "\n" not in d.error.value and len(d.error.value) < 200
    picker.v_model = "kosovo_2021_no_kfor"  # control: a listed one is loaded
    assert d.scenario_name.value == "kosovo_2021_no_kfor" and d.error.value == ""


def test_the_runs_maximum_is_kept_by_the_server(page):
    d, rc = page
    slider = widget(rc, "Slider", "runs")
    for sent in (5000, 2001, 0, -50, 10**12, True):  # (Solara casts what it is sent to int first)
        slider.v_model = sent
        assert d.runs.value == 300 and "runs: expected a whole number from 50 to 2000" in d.error.value
    slider.v_model = 2000  # control
    assert d.runs.value == 2000 and d.error.value == ""
    d.runs.set(5000)  # and where runs are spent, whatever set them
    d.run_ensemble.function()
    assert d.result.value is None and "runs: expected" in d.error.value


def test_unmoved_sliders_change_nothing(page):
    d, rc = page
    scenario = d.load_scenario(d.START)
    controls = d.controls(scenario)
    for c in controls:  # the browser snaps each slider on display and reports where it stands
        widget(rc, "Slider", c.label).v_model = vuetify_snap(c.value, c.low, c.high, c.step)
        # a near miss of the value, inside the slider's range (a value at its top cannot be missed above)
        miss = c.value + c.step / 3 if c.value + c.step / 3 <= c.high else c.value - c.step / 3
        widget(rc, "Slider", c.label).v_model = miss
    assert d.overrides.value == {} and d.error.value == ""
    assert d.current().model_dump() == scenario.model_dump()  # the run, the comparison and the export
    mediation = next(c for c in controls if c.path == "mechanisms.mediation.weight")
    widget(rc, "Slider", mediation.label).v_model = 1.0  # control: a real move is a change
    assert d.overrides.value == {"mechanisms.mediation.weight": 1.0}
    widget(rc, "Slider", mediation.label).v_model = mediation.value  # and moving back undoes it
    assert d.overrides.value == {}


def test_slider_values_are_checked_on_the_server(page):
    d, rc = page
    slider = widget(rc, "Slider", "mediation.weight")
    for sent in (99.0, -1.0, float("nan"), "1.0", None):
        slider.v_model = sent
        assert d.overrides.value == {}
        assert d.error.value.startswith("dashboard: mechanisms.mediation.weight: expected")


def test_event_rows_are_checked_on_the_server(page):
    import ipyvuetify as v

    d, rc = page
    scenario = d.load_scenario(d.START)
    rc.find(v.Btn, children=["add an event"]).widget.click()
    assert len(d.extra_events.value) == 1
    row = dict(d.extra_events.value[0])
    for key, sent in [("actor", "mars"), ("target", "../x"), ("move", "launch_everything"), ("move", 3)]:
        widget(rc, "Select", key).v_model = sent
        assert d.extra_events.value == [row] and f"event {key}: expected one of the listed" in d.error.value
    for day in (-5, scenario.days, 10**12):
        d.update_event(scenario, 0, "day", day)
        assert d.extra_events.value == [row] and "event day: expected a day from 0" in d.error.value
    widget(rc, "Select", "target").v_model = "serbia"  # control
    d.update_event(scenario, 0, "day", 7)
    assert d.extra_events.value == [{**row, "target": "serbia", "day": 7}]


def test_one_ensemble_at_a_time_per_server(page):
    d, _ = page
    d.runs.set(50)
    with d._RUNNING:  # another page's run in progress
        d.run_ensemble.function()
        assert d.result.value is None and "another run is in progress" in d.error.value
    d.run_ensemble.function()  # control: free again
    assert d.result.value is not None and len(d.result.value.runs) == 50


def test_compare_with_base_shows_the_differences():
    from sim.app.dashboard import compare_to_base, difference_table
    from sim.app.whatif import build

    edited = build("kosovo_2021", {"mechanisms.mediation.weight": 1.0}, [])
    table = difference_table(compare_to_base("kosovo_2021", edited, 50))
    assert len(table) == 4 and table["difference"].abs().sum() > 0


# ------------------------------------------------------------------ `sim dashboard` on the command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "--port: expected a port from 1 to 65535, found 99999"),
        (["--port", "0"], "--port: expected a port from 1 to 65535, found 0"),
        (["--port", "-1"], "--port: expected a port from 1 to 65535, found -1"),
        (["--host", ""], "--host: expected a host name or address"),
        (["--host", "bad host"], "--host: expected a host name or address"),
        (["--host", "192.0.2.1", "--port", "8765"], "--host: 192.0.2.1 is not an address of this machine"),
    ],
)
def test_a_bad_port_or_host_is_one_line(cli, args, message):
    code, _, err = cli("dashboard", *args)
    assert code == 2 and err.startswith("sim: error: ") and message in err and err.count("\n") == 1


def test_a_port_in_use_is_one_line(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("dashboard", "--port", port)
        assert code == 2
        assert (
            err
            == f"sim: error: --port: port {port} is already in use on 127.0.0.1; choose another with --port\n"
        )
        code, _, err = cli("dashboard", "no_such_scenario", "--port", port)  # the scenario is checked first
        assert code == 2 and "no_such_scenario: file not found" in err


def test_a_page_that_went_away_keeps_its_session_minutes_not_a_day(monkeypatch):
    from solara.util import parse_timedelta

    from sim.app.serve import solara_environment

    monkeypatch.delenv("SOLARA_KERNEL_CULL_TIMEOUT", raising=False)
    env = solara_environment("kosovo_2021")
    assert parse_timedelta(env["SOLARA_KERNEL_CULL_TIMEOUT"]) <= 300  # Solara's own default is 24 h
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"


# ------------------------------------------------------------------ the server

# Logs every name lookup and connection to another machine, in every Python process that starts
# with it on its path (the dashboard and anything it starts).
NETWORK_AUDIT = """
import os, sys

LOG = os.environ.get("SIM_TEST_NETWORK_LOG")
LOCAL = {None, "", "127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}

def _audit(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    host = host.decode() if isinstance(host, bytes) else host
    if host not in LOCAL:
        with open(LOG, "a") as fh:
            fh.write(f"{os.getpid()} {event} {host!r}\\n")

if LOG:
    sys.addaudithook(_audit)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(folder, **env) -> tuple[subprocess.Popen, str]:
    """`sim dashboard` on a free port, once its page answers; output in folder/server.log."""
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server writes it while it runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "dashboard", "kosovo_2021", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the dashboard did not start: " + (folder / "server.log").read_text(errors="replace")[-2000:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    (folder / "sitecustomize.py").write_text(NETWORK_AUDIT)
    proc, url = start_dashboard(
        folder,
        PYTHONPATH=str(folder),
        SIM_TEST_NETWORK_LOG=str(folder / "network.log"),
        SOLARA_KERNEL_CULL_TIMEOUT="3s",  # the default (2 minutes) is checked above
    )
    yield url, folder
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def websocket_uri(url: str) -> str:
    kernel, page = uuid.uuid4(), uuid.uuid4()
    return f"ws{url.removeprefix('http')}jupyter/api/kernels/{kernel}/channels?session_id={page}"


def kernels(url: str) -> dict:
    """The server's count of page sessions: total, has_connected, has_disconnected."""
    return json.load(urllib.request.urlopen(url + "resourcez", timeout=10))["kernels"]


def test_websockets_from_another_origin_are_refused(server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url, folder = server
    for origin in ("http://evil.example", f"http://evil.example:{url.split(':')[2]}", "null", None):
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(websocket_uri(url), origin=origin, open_timeout=30),
        ):
            pass
        assert refused.value.response.status_code == 403
    assert "refused a websocket from origin 'http://evil.example'" in (folder / "server.log").read_text()
    for origin in (
        url.rstrip("/"),
        url.rstrip("/").replace("127.0.0.1", "localhost"),
    ):  # control: the page's own
        with connect(websocket_uri(url), origin=origin, open_timeout=30) as ws:
            assert ws.protocol.state.name == "OPEN"


def wait_for(condition, seconds: float) -> bool:
    """Poll until condition() holds or the time is up; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_a_page_that_went_away_is_dropped(tmp_path):
    """A server of its own, so that no earlier test's page is still disconnecting when it starts (with
    the module's shared server that wait outlasted 300 s in one full-suite run of several on the busy
    2-core machine, while the state printed just after showed those pages gone)."""
    from websockets.sync.client import connect

    proc, url = start_dashboard(tmp_path, SOLARA_KERNEL_CULL_TIMEOUT="3s")
    try:

        def state() -> str:  # what to look at if it fails
            return (
                f"{kernels(url)}; server log: {(tmp_path / 'server.log').read_text(errors='replace')[-3000:]}"
            )

        assert kernels(url)["total"] == 0, state()  # control: no page yet, no session
        with connect(websocket_uri(url), origin=url.rstrip("/"), open_timeout=30):
            assert wait_for(lambda: kernels(url)["has_connected"] == 1, 60), state()  # the page's session
        # every session is gone SOLARA_KERNEL_CULL_TIMEOUT after its page went away (Solara's default: 24 h)
        assert wait_for(lambda: kernels(url)["total"] == 0, 300), state()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_the_server_and_leaves_nothing_running(tmp_path, stop):
    from websockets.sync.client import connect

    proc, url = start_dashboard(tmp_path)
    port = int(url.split(":")[2].rstrip("/"))
    try:
        with connect(websocket_uri(url), origin=url.rstrip("/"), open_timeout=30):  # a page is open
            os.kill(proc.pid, stop)
            code = proc.wait(timeout=120)
        try:
            os.killpg(proc.pid, 0)  # anything left of its process group (a child serving on)?
            left = True
        except ProcessLookupError:
            left = False
        with socket.socket() as probe:
            listening = probe.connect_ex(("127.0.0.1", port)) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    log = (tmp_path / "server.log").read_text()
    assert code == 0 and log.rstrip().endswith("dashboard stopped") and "Traceback" not in log, (code, log)
    assert not left and not listening


def shares(text: str) -> dict[str, str]:
    return dict(re.findall(r"(resolved|still tense|armed clash)\s+([\d.]+%)", text))


def sim_run(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "sim", "run", *args], capture_output=True, text=True, check=True
    ).stdout


def test_slider_run_compare_export_and_rerun_from_the_cli(server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, _ = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.goto(url)
        page.wait_for_selector("text=Set the sliders", timeout=90_000)
        page.screenshot(path=SHOTS / "1-start.png", animations="disabled")

        # the unmoved sliders show the scenario's values and the run is the CLI's run
        control = next(
            c for c in controls(load_scenario("kosovo_2021")) if c.path == "mechanisms.mediation.weight"
        )
        weaker = round(control.value - 10 * control.step, 9)
        thumb = page.locator(".v-input", has_text="mediation.weight").get_by_role("slider")
        assert float(thumb.get_attribute("aria-valuenow")) == control.value
        page.get_by_role("button", name="Run").click()
        page.wait_for_selector("text=Median peak", timeout=90_000)
        page.wait_for_selector("button:has-text('Run'):not([disabled])", timeout=90_000)
        table = page.locator("table", has_text="armed clash")
        before = shares(table.inner_text())
        chart_before = page.locator("img").last.get_attribute("src")
        page.screenshot(path=SHOTS / "2-baseline.png", animations="disabled")
        assert set(before) == {"resolved", "still tense", "armed clash"}
        assert before == shares(sim_run("kosovo_2021", "--runs", "300", "--out", str(tmp_path / "base")))

        thumb.focus()
        for _ in range(10):  # weaker EU mediation: 10 steps down
            page.keyboard.press("ArrowLeft")
        # the page lists what differs from the scenario once the server has it
        page.wait_for_selector(f"text=mediation.weight {control.value:g} → {weaker:g}", timeout=30_000)
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
        page.screenshot(path=SHOTS / "3-weaker-mediation.png", animations="disabled")
        assert after != before and chart_after != chart_before
        # weaker mediation: fewer crises resolved (93.3% -> 90.0% at 300 runs)
        assert float(after["resolved"].rstrip("%")) < float(before["resolved"].rstrip("%"))

        page.get_by_role("tab", name="Compare with base").click()
        page.get_by_role("button", name="Compare with the unmodified scenario").click()
        rows = page.locator("table", has_text="difference").locator("tbody tr")
        rows.first.wait_for(timeout=90_000)
        assert rows.count() == 4
        page.screenshot(path=SHOTS / "4-compare.png", animations="disabled")

        # another page has its own session: none of the above shows there
        other = browser.new_page(viewport={"width": 1280, "height": 800})
        other.goto(url)
        other.wait_for_selector("text=Set the sliders", timeout=90_000)
        other_thumb = other.locator(".v-input", has_text="mediation.weight").get_by_role("slider")
        assert float(other_thumb.get_attribute("aria-valuenow")) == control.value
        assert float(thumb.get_attribute("aria-valuenow")) == weaker
        other.close()

        page.get_by_role("tab", name="Export").click()
        page.get_by_text("Export scenario YAML").wait_for(timeout=30_000)
        page.screenshot(path=SHOTS / "5-export.png", animations="disabled")
        with page.expect_download() as download:
            page.get_by_text("Export scenario YAML").click()
        exported = tmp_path / "whatif.yaml"
        download.value.save_as(exported)
        browser.close()

    text = exported.read_text()
    assert "extends: kosovo_2021.yaml\n" in text and f"mediation:\n    weight: {weaker}\n" in text
    assert str(REPO) not in text  # no path on the server
    assert shares(sim_run(str(exported), "--runs", "300", "--out", str(tmp_path / "cli"))) == after


def test_the_server_made_no_network_call(server, tmp_path):
    url, folder = server
    # the CDN proxy answers from the installed assets; a missing one is not fetched
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "_solara/cdn/left-pad@1.3.0/index.js", timeout=30)
    assert missing.value.code == 404
    assert urllib.request.urlopen(url + "_solara/cdn/requirejs@2.3.6/require.js", timeout=30).status == 200
    log = folder / "network.log"
    assert not log.exists(), log.read_text()
    # control: the audit hook does see a lookup (it is logged before any packet is sent)
    control = tmp_path / "control.log"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\ntry: socket.getaddrinfo('pypi.org', 443)\nexcept OSError: pass",
        ],
        env={**os.environ, "PYTHONPATH": str(folder), "SIM_TEST_NETWORK_LOG": str(control)},
        check=True,
    )
    assert "socket.getaddrinfo 'pypi.org'" in control.read_text()
