"""Both reports open in a real headless Chromium: every image loads, the console shows no errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import snakemake

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CORTEXPLORER_REQUIRE_BROWSER") == "1":
            pytest.fail("Browser test required but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, page_path: Path, screenshot: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    messages, requests = [], []
    page.on("console", lambda m: messages.append((m.type, m.text)))
    page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
    page.on("requestfailed", lambda r: messages.append(("requestfailed", r.url)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.resolve().as_uri())
    page.wait_for_load_state("networkidle")
    images = page.evaluate("Array.from(document.images).map(i => ({src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}))")
    page.screenshot(path=str(screenshot), full_page=True)
    text = page.inner_text("body")
    page.close()
    artifacts = os.environ.get("CORTEXPLORER_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / screenshot.name)
    return images, messages, requests, text


def test_dashboard_in_chromium(browser, smoke_run: Path):
    shot = smoke_run / "reports" / "smoke" / "dashboard.png"
    images, messages, requests, text = _open(browser, smoke_run / "reports" / "smoke" / "index.html", shot)
    assert len(images) >= 4 and all(i["ok"] for i in images), images
    assert [m for m in messages if m[0] in ("error", "pageerror", "requestfailed")] == []
    assert all(r.startswith(("file:", "data:")) for r in requests), requests  # nothing from the network
    for heading in ("Stimuli", "Oracle", "Simulated participants", "Runtime and provenance"):
        assert heading in text
    assert shot.stat().st_size > 50_000


def test_snakemake_report_in_chromium(browser, smoke_run: Path):
    out = smoke_run / "reports" / "smoke" / "snakemake.html"
    snakemake(smoke_run, "--report", str(out.relative_to(smoke_run)), "--configfile", "config/smoke.yaml")
    images, messages, requests, text = _open(browser, out, smoke_run / "reports" / "smoke" / "snakemake-report.png")
    assert all(i["ok"] for i in images), images
    assert [m for m in messages if m[0] in ("error", "pageerror", "requestfailed")] == []
    assert all(r.startswith(("file:", "data:")) for r in requests), requests
    for label in ("Dashboard", "Demo world"):  # the report categories we declare
        assert label in text
