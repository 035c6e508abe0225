"""The report page in a real browser: ``ctprep.batch(..., report=True)`` and ``ctprep.report``
write ``out_dir/report.html``; headless Chromium opens it from file:// and the page must log no
error, show one card per case, filter by status, show the shifted label's warning and load every
thumbnail (paths with spaces, '#' and '%' included).

Needs Chromium, its chromedriver (Debian: ``apt-get install chromium chromium-driver``) and
selenium (python/requirements-test.txt); skips with a message without them. With
``CTPREP_REPORT_SCREENSHOT=path.png`` the cases are larger phantoms and a screenshot of the page
(1400 x 1000) is saved there: that is how docs/img/report.png is made::

    CTPREP_REPORT_SCREENSHOT=docs/img/report.png cargo xtask pytest -k test_batch_report_page
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import ctprep

# One id needs its path segments encoded in the page's src and href.
ODD_ID = "case 1 #a %20"
SHIFT_MM = 2.0  # the label's grid moved along x: placed with a warning (far off would be refused)
WAIT_S = 5.0
SCREENSHOT = os.environ.get("CTPREP_REPORT_SCREENSHOT")
# Tiny cases keep the test fast; the picture for the docs gets phantoms with some detail.
SHAPE = (128, 104, 40) if SCREENSHOT else (24, 20, 10)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three phantom cases with label maps (the third's label on a shifted grid), one corrupt
    image; their CSV manifest."""
    data = tmp_path_factory.mktemp("report_data")
    rows = ["id,image,label"]
    for k, case in enumerate(["case0", ODD_ID, "shifted"]):
        ct, lab = ctprep.phantom(SHAPE, (1.0, 1.0, 2.0), seed=k, labels=True)
        ctprep.write(data / f"c{k}.nii.gz", ct)
        if case == "shifted":
            affine = lab.affine.copy()
            affine[0, 3] += SHIFT_MM
            ctprep.write(data / f"c{k}_seg.nii.gz", lab.array, affine)
        else:
            ctprep.write(data / f"c{k}_seg.nii.gz", lab)
        rows.append(f"{case},c{k}.nii.gz,c{k}_seg.nii.gz")
    (data / "bad.nii.gz").write_text("not a volume, only text\n")
    rows.append("broken,bad.nii.gz,")
    manifest = data / "cases.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest, ["broken", "case0", ODD_ID, "shifted"]


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("the report page test needs chromium and chromedriver on PATH (Debian: chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("the report page test needs selenium (pip install -r python/requirements-test.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                "--window-size=1400,1000"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as env:
        # Selenium Manager would otherwise try to download a browser or driver it does not need.
        env.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        # The viewport itself 1400 x 1000 (the window size includes what headless counts as chrome).
        metrics = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        yield driver
    finally:
        driver.quit()


def wait_for(driver, what, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(lambda d: what(d), message)


def open_page(driver, page: Path):
    driver.get_log("browser")  # what earlier pages logged
    driver.get(page.resolve().as_uri())
    shown = lambda d: "cases shown" in d.find_element("id", "shown").text  # noqa: E731
    wait_for(driver, shown, "the page never said how many cases it shows")


def severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def shown_ids(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('article.card')].filter(c => !c.hidden).map(c => c.dataset.id)"
    )


def card_js(driver, case_id, js):
    """Runs ``js`` with ``card`` bound to the card of ``case_id`` (found by its data-id)."""
    return driver.execute_script(
        "const card = [...document.querySelectorAll('article.card')].find(c => c.dataset.id === arguments[0]);"
        + js,
        case_id,
    )


def check_thumbnails_load(driver):
    """Scrolls each thumbnail into view (the page gives cards their images as they near the
    screen) and waits until it has loaded from file://."""
    n = driver.execute_script("return document.querySelectorAll('img.thumb').length")
    for i in range(n):
        driver.execute_script(
            "document.querySelectorAll('img.thumb')[arguments[0]].scrollIntoView({block: 'center'})", i
        )
        wait_for(
            driver,
            lambda d: d.execute_script(
                "const im = document.querySelectorAll('img.thumb')[arguments[0]];"
                "return im.complete && im.naturalWidth > 0",
                i,
            ),
            f"thumbnail {i} did not load: "
            + str(driver.execute_script("return document.querySelectorAll('img.thumb')[arguments[0]].src", i)),
        )
    return n


def test_batch_report_page_in_a_browser(browser, dataset, tmp_path):
    from selenium.webdriver.support.ui import Select

    manifest, ids = dataset
    out = tmp_path / "out"
    summary = ctprep.batch(manifest, out, report=True)
    assert (summary["cases"], summary["done"], summary["failed"]) == (4, 3, 1)
    page = out / "report.html"
    assert page.is_file()
    open_page(browser, page)
    assert severe(browser) == []

    cards = browser.execute_script("return [...document.querySelectorAll('article.card')].map(c => c.dataset.id)")
    assert sorted(cards) == sorted(ids)
    assert browser.find_element("id", "shown").text == "4 of 4 cases shown"
    statuses = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('article.card')]"
        ".map(c => [c.dataset.id, c.dataset.status]))"
    )
    assert statuses == {"broken": "failed", "case0": "done", ODD_ID: "done", "shifted": "done"}
    # The failed case's card says why; the odd id is text, not markup.
    assert "not a NIfTI" in card_js(browser, "broken", "return card.querySelector('.error').textContent")
    assert card_js(browser, ODD_ID, "return card.querySelector('h2').textContent") == ODD_ID

    # The shifted label's warning, on its card only.
    card_js(browser, "shifted", "card.scrollIntoView({block: 'center'})")
    warning = card_js(browser, "shifted", "return card.querySelector('.warnings')?.textContent ?? ''")
    assert "label shifted" in warning, warning
    for other in ["case0", ODD_ID]:
        assert card_js(browser, other, "return card.querySelectorAll('.warnings li').length") == 0

    status = Select(browser.find_element("id", "filter-status"))
    status.select_by_value("failed")
    wait_for(browser, lambda d: shown_ids(d) == ["broken"], "the failed filter does not show exactly the failed case")
    assert browser.find_element("id", "shown").text == "1 of 4 cases shown"
    Select(browser.find_element("id", "filter-warnings")).select_by_value("with")
    wait_for(browser, lambda d: shown_ids(d) == [], "failed and warned: no case")
    status.select_by_value("")
    wait_for(browser, lambda d: shown_ids(d) == ["shifted"], "the warnings filter does not show the shifted case alone")
    # By kind of warning: the label's.
    Select(browser.find_element("id", "filter-warnings")).select_by_value("kind:label")
    wait_for(browser, lambda d: shown_ids(d) == ["shifted"], "the label-warning filter does not show the shifted case")
    Select(browser.find_element("id", "filter-warnings")).select_by_value("")
    wait_for(browser, lambda d: len(shown_ids(d)) == 4, "clearing the filters does not show every case again")
    # By HU range: every phantom reaches air (-1024 HU), none has its lowest value above 0.
    done = sorted(i for i in ids if i != "broken")
    hu_min = browser.find_element("id", "filter-hu-min")
    hu_min.send_keys("-2000")
    wait_for(browser, lambda d: sorted(shown_ids(d)) == done, "HU min >= -2000 does not show exactly the done cases")
    hu_min.clear()
    hu_min.send_keys("0")
    wait_for(browser, lambda d: shown_ids(d) == [], "the HU filter shows a case whose lowest value is below 0")
    hu_min.clear()
    browser.execute_script("document.getElementById('filter-hu-min').dispatchEvent(new Event('input'))")
    wait_for(browser, lambda d: len(shown_ids(d)) == 4, "clearing the HU filter does not show every case again")
    hu_le = browser.find_element("id", "filter-hu-max-le")
    hu_le.send_keys("5000")
    wait_for(browser, lambda d: sorted(shown_ids(d)) == done, "HU max <= 5000 does not show exactly the done cases")
    hu_le.clear()
    browser.execute_script("document.getElementById('filter-hu-max-le').dispatchEvent(new Event('input'))")
    wait_for(browser, lambda d: len(shown_ids(d)) == 4, "clearing the HU filter does not show every case again")
    min_ml = browser.find_element("id", "filter-min-ml")
    min_ml.send_keys("1e9")
    wait_for(browser, lambda d: shown_ids(d) == [], "no case has a billion ml of labels")
    min_ml.clear()
    browser.execute_script("document.getElementById('filter-min-ml').dispatchEvent(new Event('input'))")
    wait_for(browser, lambda d: len(shown_ids(d)) == 4, "clearing the ml filter does not show every case again")

    # Keyboard: j moves to the next card shown, k back.
    from selenium.webdriver.common.keys import Keys

    browser.execute_script("document.activeElement.blur()")
    body = browser.find_element("tag name", "body")
    focused = "return document.activeElement.closest('article.card')?.dataset.id ?? null"
    order = shown_ids(browser)
    body.send_keys("j")
    wait_for(browser, lambda d: d.execute_script(focused) == order[0], "j does not focus the first card")
    browser.switch_to.active_element.send_keys("j")
    wait_for(browser, lambda d: d.execute_script(focused) == order[1], "j does not move to the next card")
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP)
    wait_for(browser, lambda d: d.execute_script(focused) == order[0], "the up arrow does not move back")

    # Three planes per done case, each thumbnail loading from file:// under its encoded path.
    assert check_thumbnails_load(browser) == 9
    srcs = card_js(browser, ODD_ID, "return [...card.querySelectorAll('img.thumb')].map(i => i.src)")
    assert all("/case%201%20%23a%20%2520/" in s for s in srcs), srcs
    assert severe(browser) == []

    if SCREENSHOT:
        # The warned case first, so that the picture shows a warning, a failure and thumbnails.
        Select(browser.find_element("id", "sort")).select_by_value("warnings")
        first = lambda d: shown_ids(d)[0] == "shifted"  # noqa: E731
        wait_for(browser, first, "the warnings sort does not put the warned case first")
        browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        check_thumbnails_load(browser)
        browser.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)  # a frame or two to paint
        Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(Path(SCREENSHOT).resolve()))


def test_report_function_writes_the_page_of_a_batch_folder(browser, dataset, tmp_path):
    manifest, ids = dataset
    out = tmp_path / "out"
    ctprep.batch(manifest, out)
    assert not (out / "report.html").exists()
    path = ctprep.report(out)
    assert isinstance(path, str) and Path(path) == out / "report.html" and Path(path).is_file()
    open_page(browser, Path(path))
    assert severe(browser) == []
    cards = browser.execute_script("return [...document.querySelectorAll('article.card')].map(c => c.dataset.id)")
    assert sorted(cards) == sorted(ids)
    assert check_thumbnails_load(browser) == 9
    assert severe(browser) == []
