"""The HTML report of a run: its contents, robustness.json, and headless Chromium.

Acceptance: the report of a default ``ndconv train`` run (shortened: 2 epochs on 1,000 digits)
opens in headless Chromium with no console errors and every image loaded; a screenshot is
saved to ``artifacts/report.png``. Without Chromium the browser tests skip, except in CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("matplotlib")
pytest.importorskip("safetensors")

from click.testing import CliRunner  # noqa: E402

from ndconv.cli import main  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SHORT = ["--epochs", "2", "--limit", "1000", "--no-progress"]


def _invoke(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    text = _invoke("train", *SHORT, "--out", out)
    assert f"wrote {out / 'report.html'}, {out / 'robustness.json'}" in text
    return out


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("headless Chromium is required in CI: apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Open `page` in headless Chromium with a fresh profile and nothing reaching the network."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console_errors(stderr: str) -> list[str]:
    """Chromium's log lines for page errors: console messages and uncaught exceptions."""
    return [line for line in stderr.splitlines()
            if ("CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)) or "Uncaught" in line]


def _images_loaded(dom: str) -> tuple[int, int]:
    found = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert found, "the page's load handler did not run (no data-images-loaded on <body>)"
    return int(found[1]), int(found[2])


def test_report_opens_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    page = run_dir / "report.html"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = _browse(page, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1280,4000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_errors(result.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = _browse(page, tmp_path / "profile2", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_errors(result.stderr) == []
    loaded, total = _images_loaded(result.stdout)
    assert loaded == total > 0
    # every <img> of the file itself is an embedded PNG, so the count covers them all
    assert total == page.read_text().count("<img ")


def test_the_browser_check_catches_broken_pages(tmp_path: Path) -> None:
    # a page with a script error and an image that cannot load: both checks must notice
    page = tmp_path / "broken.html"
    body_script = ("<script>window.addEventListener('load', function () { var i = document.images;"
                   " var ok = 0; for (var k = 0; k < i.length; k++) { if (i[k].complete && "
                   "i[k].naturalWidth > 0) { ok++; } } document.body.dataset.imagesLoaded = ok + '/' "
                   "+ i.length; }); undefinedFunction();</script>")
    page.write_text(f"<!DOCTYPE html><html><head>{body_script}</head><body>"
                    "<img src='data:image/png;base64,AAAA'></body></html>")
    result = _browse(page, tmp_path / "profile", "--dump-dom")
    assert any("undefinedFunction" in line for line in _console_errors(result.stderr)), result.stderr[-2000:]
    assert _images_loaded(result.stdout) == (0, 1)


def test_report_is_self_contained_and_complete(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    for section in ("summary", "curves", "confusion", "filters", "feature_maps", "feature_vis",
                    "adversarial"):
        assert f"<section id='{section}'>" in text
    assert "Not shown" in text.split("<section id='reconstructions'>")[1].split("</section>")[0]
    assert "Not shown" not in text.replace(
        text.split("<section id='reconstructions'>")[1].split("</section>")[0], "")
    # nothing is fetched: every image is an inline PNG, no link or script has a source
    srcs = re.findall(r'\b(?:src|href)\s*=\s*["\']([^"\']*)', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in text and "https://" not in text and "@import" not in text
    assert "<table>" in text and "61,706" in text  # the summary table: LeNet-5's parameters
    assert f"ndconv train --epochs 2 --limit 1000 --out {run_dir}" in text
    assert f"ndconv report {run_dir}" in text


def test_robustness_json(run_dir: Path) -> None:
    rob = json.loads((run_dir / "robustness.json").read_text())
    assert rob["n"] == 200 and rob["eps"] == [0.0, 0.05, 0.1, 0.2, 0.3] and rob["norm"] == "inf"
    for attack in ("fgsm", "pgd"):
        accs = [rob[attack][str(e)] for e in rob["eps"]]
        assert accs[0] == rob["clean"] and all(0.0 <= a <= 1.0 for a in accs)
        assert accs[-1] <= accs[0]
    assert rob["pgd"]["0.3"] <= rob["fgsm"]["0.3"] + 0.05


def test_report_command_writes_elsewhere(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere.html"
    text = _invoke("report", run_dir, "--out", out)
    assert f"wrote {out}" in text and "reconstructions: not shown" in text
    assert f"ndconv report {run_dir} --out {out}" in out.read_text()
