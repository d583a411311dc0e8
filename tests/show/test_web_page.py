"""The control page in a real browser: Debian's Chromium (headless) driven by Selenium through
the system chromedriver, against a running live show (an OutputWindow under Xvfb, the real OSC
server, the real web server). The show runs on this thread; the browser is driven from another.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vj.control.osc import OscServer
from vj.control.params import MAX_TEXT, ParamStore
from vj.control.surface import ControlSurface
from vj.control.web import WebServer, is_loopback, lan_address
from vj.generators.procedural import ProceduralGenerator
from vj.render.window import Action, OutputWindow
from vj.setlist.models import load_setlist
from vj.show.live import LiveOptions, LiveShow, build_song_states

RATE = 30.0
SETLIST = """\
title: web test
output: {width: 160, height: 96, fps: 24}
model: procedural
styles:
  ink: {prefix: "ink of "}
  neon: {prefix: "neon "}
  paper: {prefix: "paper "}
songs:
  - name: first song
    bpm: 120
    tempo_lead: setlist
    style: ink
    prompt: "a slow spiral of stars"
"""
PHONE = (390, 844)      # a phone in portrait (CSS pixels)
TABLET = (1180, 820)    # a tablet in landscape

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
chromedriver = shutil.which("chromedriver")


def browser(size):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(15)
    emulate(driver, size)
    return driver


def emulate(driver, size, scale=2.0):
    """A touch device's viewport of ``size`` CSS pixels (a desktop window has a minimum width)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": scale, "mobile": True})
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def until(predicate, timeout=5.0, what="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


LAYOUT_JS = """
const width = document.documentElement.clientWidth;
const out = [];
for (const node of document.querySelectorAll('button, input, textarea, summary')) {
  const r = node.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;   // not shown (a closed <details>)
  if (r.left < -1 || r.right > width + 1) out.push(node.id || node.textContent.slice(0, 30));
}
const small = [...document.querySelectorAll('main button')].filter(
  (b) => { const r = b.getBoundingClientRect(); return r.height > 0 && r.height < 36; }).map((b) => b.textContent);
return {offscreen: out, scroll: document.documentElement.scrollWidth, width: width, small: small,
        viewport: window.innerWidth,
        controls: document.querySelectorAll('#groups input, #groups button').length};
"""


def fuzz(port: int, seconds: float, count: int) -> dict:
    """The fuzzer (``web_fuzzer.py``) in a process of its own, as a page on another device is: its
    own work never competes with the show's threads for this interpreter."""
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("web_fuzzer.py")), str(port),
                             str(seconds), str(count)], capture_output=True, text=True, timeout=seconds + 30)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_the_page_steers_a_live_show_and_follows_it(xvfb_display, tmp_path):
    if not (chromium and chromedriver):
        pytest.fail("Debian's chromium and chromium-driver are not installed; `make setup` installs them")
    from pythonosc.udp_client import SimpleUDPClient
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    setlist = load_setlist(path)
    store = ParamStore()
    osc = OscServer(store, port=0)
    web = WebServer(store, osc.router, port=0)
    surface = ControlSurface(store, osc=osc, web=web)
    surface.configure(setlist, setlist.songs[0])
    surface.start()
    window = OutputWindow("vj web test", (320, 192), None)
    phase = {"name": "start", "quit": False}
    frames: list[tuple[str, float]] = []
    results: dict = {}
    errors: list[BaseException] = []

    def drive() -> None:
        driver = None
        try:
            until(lambda: phase["name"] == "showing", 20, "the first frame")
            driver = browser(PHONE)
            url = f"http://127.0.0.1:{web.port}/"
            driver.get(url)
            until(lambda: driver.execute_script("return window.vj.connected && !!window.vj.specs.brightness"),
                  10, "the page to connect")
            # phone layout: nothing off-screen sideways, touch-sized buttons, a control per parameter
            driver.save_screenshot(str(tmp_path / "phone.png"))
            if os.environ.get("VJ_WEB_SHOTS"):   # keep the screenshots to look at
                driver.save_screenshot(os.path.join(os.environ["VJ_WEB_SHOTS"], "phone.png"))
            results["phone"] = driver.execute_script(LAYOUT_JS)
            # a fader moved with the pointer
            fader = driver.find_element(By.ID, "p-brightness")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", fader)
            ActionChains(driver).move_to_element_with_offset(fader, int(fader.size["width"] * 0.3), 0).click().perform()
            until(lambda: store.value("brightness") > 1.2, 3, "the fader to reach the store")
            time.sleep(0.2)   # the glide (0.05 s) done
            results["brightness"] = store.value("brightness")
            # a prompt typed and sent
            box = driver.find_element(By.ID, "prompt-text")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
            box.send_keys("a lighthouse in a storm")
            driver.find_element(By.ID, "prompt-send").click()
            until(lambda: store.value("prompt") == "a lighthouse in a storm", 3, "the prompt")
            # a style pad
            pad = driver.find_element(By.CSS_SELECTOR, "[data-style='neon']")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
            pad.click()
            until(lambda: store.value("style") == "neon", 3, "the style pad")
            # blackout: the store, and the frames the show then makes
            blackout = driver.find_element(By.ID, "blackout")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", blackout)
            blackout.click()
            until(lambda: store.value("blackout") is True, 3, "blackout")
            until(lambda: results.get("dark"), 3, "a black frame")
            # an OSC change appears on the page
            sent = time.monotonic()
            SimpleUDPClient("127.0.0.1", osc.address[1]).send_message("/vj/param/saturation", 0.3)
            until(lambda: driver.execute_script(
                "return document.getElementById('v-saturation').textContent").startswith("0.30"), 3,
                "the OSC change on the page")
            results["osc_to_page"] = time.monotonic() - sent
            assert driver.execute_script("return window.vj.values.blackout") is True
            # the preview thumbnails arrive
            until(lambda: driver.execute_script("return document.getElementById('preview').naturalWidth") > 0,
                  5, "a preview image")
            results["preview_width"] = driver.execute_script("return document.getElementById('preview').naturalWidth")
            # a tablet in landscape
            emulate(driver, TABLET)
            time.sleep(0.3)
            results["tablet"] = driver.execute_script(LAYOUT_JS)
            if os.environ.get("VJ_WEB_SHOTS"):
                driver.save_screenshot(os.path.join(os.environ["VJ_WEB_SHOTS"], "tablet.png"))
            # fuzz the WebSocket while the show renders. The browser leaves the page meanwhile: on a
            # phone it would not share the show machine's two cores (its rendering of every update
            # stalls frames here by itself); a quiet second first (the fuzzer started), for comparison.
            driver.get("about:blank")
            results["fuzz"] = fuzz(web.port, seconds=2.5, count=5000)
            driver.get(url)   # the page again: the show still answers
            until(lambda: driver.execute_script("return window.vj.connected && !!window.vj.specs.vignette"),
                  10, "the page after the fuzz")
            driver.execute_script("window.vj.send({t: 'set', name: 'vignette', value: 0.4})")
            until(lambda: store.value("vignette") == 0.4, 3, "the page steering after the fuzz")
            # a LAN bind refuses a page without the token
            address = lan_address()
            if not is_loopback(address) and address[0].isdigit():
                lan = WebServer(store, osc.router, host="0.0.0.0", port=0)
                lan.start()
                try:
                    driver.get(f"http://{address}:{lan.port}/")
                    results["no_token"] = driver.find_element(By.TAG_NAME, "body").text
                    driver.get(lan.url)
                    until(lambda: driver.execute_script("return !!(window.vj && window.vj.connected)"), 10,
                          "the page with the token")
                    results["with_token"] = True
                finally:
                    lan.stop()
        except BaseException as exc:  # reported on the test's thread
            errors.append(exc)
        finally:
            if driver is not None:
                driver.quit()
            phase["quit"] = True

    def on_frame(show: LiveShow, record) -> None:
        if phase["name"] == "start" and show.showing:
            phase["name"] = "showing"
        frames.append((phase["name"], record.started))
        if record.blackout and store.value("blackout") and "dark" not in results:
            results["dark"] = window.screenshot().max() == 0
        if phase["quit"]:
            window.inject(Action.QUIT)
            window.inject(Action.QUIT)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        show = LiveShow(setlist, build_song_states(setlist), window, audio=None,
                        make_generator=ProceduralGenerator,
                        options=LiveOptions(quit_after=55.0, display_rate=RATE), controls=store, surface=surface)
        show.on_frame = on_frame
        show.run()
    finally:
        phase["quit"] = True
        thread.join(20)
        window.close()
        surface.stop()
    if errors:
        raise errors[0]

    for name in ("phone", "tablet"):
        layout = results[name]
        assert not layout["offscreen"], (name, layout)
        assert layout["scroll"] <= layout["width"], (name, layout)
        assert not layout["small"], (name, layout)
        assert layout["controls"] >= 15, layout   # a control for every performer-facing parameter
    assert results["phone"]["width"] == PHONE[0] and results["tablet"]["width"] == TABLET[0]
    assert (tmp_path / "phone.png").stat().st_size > 1000
    # clicked 0.3 of the fader's width right of its centre: 0.8 of brightness's 0..2 range
    assert results["brightness"] == pytest.approx(1.6, abs=0.08)
    assert results["dark"]
    assert results["osc_to_page"] < 0.5
    assert results["preview_width"] == 320
    assert results["fuzz"]["sent"] >= 1000
    assert all(0.0 <= store.value(n) <= 2.0 for n in ("brightness", "contrast", "saturation"))
    prompt = store.value("prompt")
    assert prompt is None or len(prompt) <= MAX_TEXT
    if "no_token" in results:
        assert "403" in results["no_token"] and results["with_token"]
    # the render never stalled more than a frame while the WebSocket was fuzzed
    window_of = lambda start, end: [t for _, t in frames if start <= t <= end]  # noqa: E731
    fuzzed = window_of(results["fuzz"]["start"], results["fuzz"]["end"])
    quiet = window_of(results["fuzz"]["quiet"], results["fuzz"]["start"])
    assert len(fuzzed) > RATE * 1.5
    gaps = [b - a for a, b in zip(fuzzed, fuzzed[1:])]
    quiet_gap = max((b - a for a, b in zip(quiet, quiet[1:])), default=0.0)
    print(f"fuzz: {results['fuzz']['sent']} messages over {len(fuzzed)} frames, frame gap max "
          f"{max(gaps) * 1000:.1f} ms (period {1000 / RATE:.1f} ms; {quiet_gap * 1000:.1f} ms in the quiet "
          f"second before); OSC → page {results['osc_to_page'] * 1000:.0f} ms")
    assert max(gaps) < 2.0 / RATE, (f"a frame took {max(gaps) * 1000:.0f} ms during the fuzz (in the quiet "
                                    f"second before it: {quiet_gap * 1000:.0f} ms at most)")
