"""The ML view in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven
by Selenium against the real Airflow API server, logged in through the simple auth manager.

Run by `make browser-test` (which installs Chromium when missing and sets ML_BROWSER_TEST=1);
skipped otherwise. Screenshots go to ML_SCREENSHOTS (default .local/screenshots).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ml_world
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("ML_SCREENSHOTS", ROOT / ".local" / "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ML_BROWSER_TEST") != "1", reason="run by `make browser-test`"),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium + chromium-driver"),
]


@pytest.fixture(scope="module")
def api_server(ml_world, airflow_db, tmp_path_factory) -> Iterator[dict]:
    """`airflow api-server` over the world's artifacts, logins required (no all-admins)."""
    home = tmp_path_factory.mktemp("api")
    password = secrets.token_urlsafe(12)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    port = int(os.environ["ML_AIRFLOW_PORT"])
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ML_ARTIFACT_ROOT": str(ml_world["roots"].artifacts),
        "ML_DATA_ROOT": str(ml_world["roots"].data),
        "ML_SERVING_ROOT": str(ml_world["roots"].serving),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": base,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
    }
    log = open(home / "api-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((home / "api-server.log").read_text()[-3000:]) from None
                time.sleep(1)
        yield {"base": base, "user": "admin", "password": password, "log": home / "api-server.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(arg)
    options.add_argument("--disable-background-networking")  # no update / safe-browsing pings
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        print(f"\nscreenshots: {SHOTS}")


def requested_urls(driver) -> list[str]:
    """URLs of every request the browser sent since the last call (CDP Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_ml_view_in_a_real_browser(api_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = api_server["base"]
    wait = WebDriverWait(browser, WAIT_S)
    seen: list[str] = []

    # log in through Airflow's own login page
    browser.get(f"{base}/ml-artifacts/")
    assert "Not authenticated" in browser.page_source  # no login, no reports
    browser.get(f"{base}/")
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(api_server["user"])
    browser.find_element(By.NAME, "password").send_keys(api_server["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.get_cookie("_token") is not None)

    # the ML entry of the Airflow UI: the view in its iframe, the demo's spans in the grid
    browser.get(f"{base}/plugin/ml")
    frame = wait.until(ec.presence_of_element_located((By.TAG_NAME, "iframe")))
    browser.switch_to.frame(frame)
    wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "flights"))).click()
    grid = wait.until(ec.presence_of_element_located((By.ID, "span-grid")))
    landed = grid.find_elements(By.CSS_SELECTOR, "a[data-check=landed]")
    assert [c.get_attribute("data-span") for c in landed] == [
        *ml_world.PASSED,
        ml_world.GE_FAILED,
        ml_world.INGEST_FAILED,
    ]
    ge = {
        c.get_attribute("data-span"): c.get_attribute("class")
        for c in grid.find_elements(By.CSS_SELECTOR, "a[data-check=GE]")
    }
    assert "c-passed" in ge[ml_world.PASSED[0]] and "c-failed" in ge[ml_world.GE_FAILED]
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#drift-plot .main-svg")))
    browser.switch_to.default_content()
    browser.save_screenshot(str(SHOTS / "01-ml-view.png"))
    seen += requested_urls(browser)

    # the failed ingest's failure report, served over HTTP like every other report
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    failed = browser.find_element(
        By.CSS_SELECTOR, f"a[data-check=landed][data-span='{ml_world.INGEST_FAILED}']"
    )
    assert "c-failed" in failed.get_attribute("class")
    failed.click()
    wait.until(lambda d: "ingest_failure.json" in d.execute_script("return location.pathname"))
    report = browser.find_element(By.TAG_NAME, "body").text
    assert "dep_delay" in report and "rule" in report
    browser.switch_to.default_content()
    browser.save_screenshot(str(SHOTS / "02-failure-report.png"))

    # a model's TFMA view: the slice table and plots
    browser.get(f"{base}/ml-artifacts/flights/")
    wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "slices"))).click()
    table = wait.until(ec.presence_of_element_located((By.ID, "slices")))
    assert "Overall" in table.text and "carrier=" in table.text
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#auc .main-svg")))
    judged = browser.find_element(By.ID, "judged-slices")  # the evaluation as HTML tables
    assert "too small" in judged.text and len(judged.find_elements(By.TAG_NAME, "tr")) > 5
    assert "BLESSED" in browser.find_element(By.ID, "verdict").text
    assert "robustness probe" in browser.find_element(By.ID, "checks").text
    browser.save_screenshot(str(SHOTS / "03-tfma.png"))
    browser.execute_script("arguments[0].scrollIntoView()", judged)
    browser.save_screenshot(str(SHOTS / "03c-tfma-slices.png"))
    calibration = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#calibration .main-svg")))
    browser.execute_script("arguments[0].scrollIntoView()", calibration)
    browser.save_screenshot(str(SHOTS / "03b-tfma-calibration.png"))
    seen += requested_urls(browser)

    # the live model: realized vs estimated AUC per span with the band, the alarm, then its span
    browser.get(f"{base}/ml-artifacts/flights/")
    live = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#live-plot .main-svg")))
    table = browser.find_element(By.ID, "live-table")
    assert all(span in table.text for span in ml_world.LIVE) and "alarm" in table.text
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "live"))
    browser.save_screenshot(str(SHOTS / "06-live-model.png"))
    assert live.is_displayed()
    table.find_element(By.LINK_TEXT, ml_world.SHIFTED).click()
    verdict = wait.until(ec.presence_of_element_located((By.ID, "verdict")))
    assert "alarm" in verdict.text and "origin=EWR" in verdict.text
    assert "Overall" in browser.find_element(By.ID, "labels").text
    browser.save_screenshot(str(SHOTS / "07-live-span.png"))
    seen += requested_urls(browser)

    # a span estimated before its labels, and its served inputs against training and ingest
    browser.get(f"{base}/ml-artifacts/flights/")
    table = wait.until(ec.presence_of_element_located((By.ID, "live-table")))
    row = table.find_element(By.XPATH, f".//tr[td/a[text()='{ml_world.ESTIMATED_ONLY}']]")
    assert "estimated" in row.text
    row.find_element(By.LINK_TEXT, ml_world.ESTIMATED_ONLY).click()
    verdict = wait.until(ec.presence_of_element_located((By.ID, "verdict")))
    assert "estimated before labels" in verdict.text
    served = browser.find_element(By.ID, "served-table")
    assert "distance" in served.text and "skew" in served.text  # the corrupted landing vs what was served
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "served"))
    browser.save_screenshot(str(SHOTS / "08-served-inputs.png"))
    browser.find_element(By.LINK_TEXT, "served vs training, side by side").click()
    numeric = wait.until(ec.presence_of_element_located((By.ID, "numeric")))
    assert "dep_delay" in numeric.text and "training" in browser.page_source
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#numeric .main-svg")) >= 4)
    browser.save_screenshot(str(SHOTS / "09-served-vs-training.png"))
    seen += requested_urls(browser)

    # a statistics page: rendered tables and histograms, not a blank Facets frame
    browser.get(f"{base}/ml-artifacts/flights/stats/{ml_world.PASSED[1]}?against={ml_world.PASSED[0]}")
    numeric = wait.until(ec.presence_of_element_located((By.ID, "numeric")))
    assert "dep_delay" in numeric.text and len(numeric.find_elements(By.TAG_NAME, "tr")) > 4
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#numeric .main-svg")) >= 4)
    browser.save_screenshot(str(SHOTS / "04-statistics.png"))

    # Great Expectations Data Docs with their scripts and styles served locally
    browser.get(f"{base}/ml-artifacts/flights/spans/{ml_world.GE_FAILED}/validation/data_docs/index.html")
    wait.until(lambda d: d.execute_script("return typeof window.jQuery") == "function")
    browser.save_screenshot(str(SHOTS / "05-data-docs.png"))
    seen += requested_urls(browser)

    outside = sorted({u for u in seen if not u.startswith((base, "data:", "blob:", "about:"))})
    assert outside == [], f"requests outside the API server: {outside}"
    assert len(seen) > 20
