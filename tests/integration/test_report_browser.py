"""A real report.html, from an anomaly flow run on SeaweedFS, in Debian's headless chromium.

One table row per image; a header click re-sorts; the histogram and the heatmaps are decoded
images; the console has no errors; a key written as a script tag shows as text. Set
AEPIPE_REPORT_SCREENSHOT=path to keep a screenshot (docs/figures/report.png comes from it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import boto3
import numpy as np
import pytest
from imagefactory import save
from modelfactory import blur_autoencoder, photo_like

from aepipe.degrade.defects import add_defect
from aepipe.images import to_float
from aepipe.runtime.flow import process_images
from aepipe.runtime.model.card import ModelCard
from aepipe.training.calibrate import calibrate_anomaly

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTILE = "<script>alert(1)</script>.png"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def anomaly_model(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("model")
    card = ModelCard(name="blur-anomaly", task="anomaly", tile=64, tile_overlap=8)
    path = blur_autoencoder(folder / "blur.onnx", card)
    rng = np.random.default_rng(1)
    scoring = calibrate_anomaly(path, card, [photo_like(rng, 64, 64) for _ in range(4)])
    return str(blur_autoencoder(path, replace(card, anomaly=scoring.to_dict())))


def inputs() -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    files = {}
    for i in range(6):
        normal = photo_like(rng, 64, 64)
        files[f"normal/{i}.png"] = save(normal)
        defect = add_defect(
            to_float(normal), rng, ("blob", "scratch", "missing")[i % 3], min_area=0.01
        )
        files[f"defect/{i}.png"] = save(np.rint(defect.image * 255).astype(np.uint8))
    files[HOSTILE] = save(photo_like(rng, 64, 64))
    files["broken.png"] = b"not an image"
    return files


@pytest.fixture
def browser():
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are missing: run `make system-deps`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def column(driver, name: str) -> list[str]:
    headers = [th.text for th in driver.find_elements("css selector", "#table thead th")]
    index = headers.index(name) + 1
    return [
        td.text
        for td in driver.find_elements("css selector", f"#table tbody td:nth-child({index})")
    ]


def test_report_in_a_real_browser(
    prefect_harness, s3_env, s3_bucket, anomaly_model, browser, tmp_path
):
    client = boto3.client("s3")
    files = inputs()
    for key, data in files.items():
        client.put_object(Bucket=s3_bucket, Key=f"in/{key}", Body=data)
    summary = process_images(
        f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out", task="anomaly", model=anomaly_model
    )
    assert summary["counts"]["ok"] == len(files) - 1 and summary["counts"]["error"] == 1
    page = tmp_path / "report.html"
    key = summary["files"]["report.html"].removeprefix(f"s3://{s3_bucket}/")
    page.write_bytes(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())

    browser.get(page.as_uri())
    rows = browser.find_elements("css selector", "#table tbody tr")
    assert len(rows) == len(files)
    assert HOSTILE in column(browser, "key")  # shown as text ...
    assert browser.execute_script("return document.scripts.length") == 2  # ... never run

    header = next(
        th
        for th in browser.find_elements("css selector", "#table thead th")
        if th.text == "anomaly_score"
    )
    header.click()
    scores = [float(v) for v in column(browser, "anomaly_score") if v]
    assert scores == sorted(scores) and len(scores) == len(files) - 1
    header.click()
    assert [float(v) for v in column(browser, "anomaly_score") if v] == sorted(scores, reverse=True)

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.className, i.complete, i.naturalWidth])"
    )
    assert any(kind == "plot" for kind, _, _ in images), "the anomaly_score histogram"
    assert sum(kind == "thumb" for kind, _, _ in images) >= 6, "inputs and heatmaps"
    assert all(done and width > 0 for _, done, width in images), images

    browser.find_element("css selector", "#filter").send_keys("defect/")
    assert len(browser.find_elements("css selector", "#table tbody tr")) == 6
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    if os.environ.get("AEPIPE_REPORT_SCREENSHOT"):
        browser.find_element("css selector", "#filter").clear()
        browser.execute_script(
            "document.querySelector('#filter').dispatchEvent(new Event('input'))"
        )
        browser.save_screenshot(os.environ["AEPIPE_REPORT_SCREENSHOT"])
