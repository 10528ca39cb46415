"""The report as its readers meet it: every page opened in a real browser (Chromium from the
distribution, driven by playwright), offline, on a 390 px phone, a 1366 px laptop and A4 paper.
Screenshots and PDFs go to test-output/browser/ for a person to look at."""

import shutil
from pathlib import Path

import pytest

from helpers.core.config import Config

from .conftest import PROJECT, QUARTERS, YEAR

pytestmark = pytest.mark.e2e
PAGES = ("index", *Config.model_fields["sections"].default_factory())  # every page, in order
VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 900)}
A4_WIDTH = 794  # px at 96 dpi
OUTPUT = PROJECT / "test-output" / "browser"
PLACEHOLDER_ALT = "No description has been provided for this image"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "no Chromium: make test installs it (apt-get install chromium)"
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def report(ran) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return ran / "2025Q4"


def _open(browser, folder: Path, name: str, width: int, height: int, media: str = "screen"):
    """The page loaded with every request outside the report refused and recorded, and the
    console errors and page errors it raised."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.emulate_media(media=media)
    outside, errors = [], []
    inside = folder.resolve().as_uri()

    def route(request_route):
        url = request_route.request.url
        if url.startswith((inside, "data:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((folder / f"{name}.html").as_uri(), wait_until="load")
    return page, outside, errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_works_offline_on_a_phone_and_a_laptop(browser, report, name, viewport):
    width, height = VIEWPORTS[viewport]
    page, outside, errors = _open(browser, report, name, width, height)
    assert outside == [] and errors == []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
    page.screenshot(path=OUTPUT / f"{name}-{viewport}.png", full_page=True)
    page.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_year_report_works_offline_and_links_to_its_quarters(browser, ran, viewport):
    width, height = VIEWPORTS[viewport]
    page, outside, errors = _open(browser, ran / YEAR, "index", width, height)
    assert outside == [] and errors == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    related = page.eval_on_selector_all("nav.related a", "links => links.map(a => a.href)")
    assert related == [(ran / q / "index.html").as_uri() for q in QUARTERS]
    assert page.locator("#quarters table tbody tr").count() >= 5
    assert page.locator("#targets table tbody tr").count() > 0
    page.screenshot(path=OUTPUT / f"year-index-{viewport}.png", full_page=True)
    page.close()
    page, _, _ = _open(browser, ran / QUARTERS[-1], "index", width, height)
    year_link = page.eval_on_selector("nav.related a", "a => a.href")  # Q4 links to its year
    assert year_link == (ran / YEAR / "index.html").as_uri()
    page.close()


def test_the_summary_tells_the_stories_and_links_each_to_its_section(browser, report):
    page, _, _ = _open(browser, report, "index", *VIEWPORTS["phone"])
    stories = page.locator("section#summary ol.stories > li")
    assert 3 <= stories.count() <= 6
    for index in range(stories.count()):
        href = stories.nth(index).locator("a").get_attribute("href")
        target, anchor = href.split("#")
        assert target in {f"{name}.html" for name in PAGES[1:]} and anchor == "findings"
        linked, _, _ = _open(browser, report, target.removesuffix(".html"), 1366, 900)
        assert linked.locator(f"h2#{anchor}").count() == 1
        linked.close()
    assert page.locator("section#kpis table").count() == 1
    order = page.eval_on_selector_all("body > section", "s => s.map(x => x.id)")
    assert order[: order.index("summary") + 1] in (["alerts", "summary"], ["summary"])  # first
    page.close()


@pytest.mark.parametrize("name", PAGES[1:])
def test_a_section_page_has_contents_a_way_back_and_a_way_on(browser, report, name):
    page, _, _ = _open(browser, report, name, *VIEWPORTS["phone"])
    headed = page.eval_on_selector_all("h2[id]", "hs => hs.map(h => h.id)")
    linked = page.eval_on_selector_all(
        "nav.report-toc a", "as => as.map(a => a.getAttribute('href').slice(1))"
    )
    assert linked == headed and "findings" in headed and len(headed) >= 2
    pager = page.eval_on_selector_all(
        "nav.report-pager a", "as => as.map(a => a.getAttribute('href'))"
    )
    following = PAGES[PAGES.index(name) + 1 :]
    assert pager == ["index.html"] + ([f"{following[0]}.html"] if following else [])
    assert "Test shop" in page.title()
    page.close()


@pytest.mark.parametrize("name", PAGES[1:])
def test_every_chart_says_what_it_shows(browser, report, name):
    page, _, _ = _open(browser, report, name, *VIEWPORTS["laptop"])
    alts = page.eval_on_selector_all("img", "images => images.map(i => i.alt)")
    assert alts and all(alt and alt != PLACEHOLDER_ALT for alt in alts)
    assert any("Highest:" in alt or "Latest:" in alt for alt in alts)  # the data, not the title
    natural = page.eval_on_selector_all(
        "img", "images => images.map(i => i.naturalWidth / i.width)"
    )
    assert min(natural) >= 1.9  # drawn at twice the size shown: sharp on any screen
    page.close()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_prints_on_a4(browser, report, name):
    page, outside, errors = _open(browser, report, name, A4_WIDTH, 1123, media="print")
    assert outside == [] and errors == []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow} px wider than A4"
    repeats = page.eval_on_selector_all(
        "thead", "heads => heads.map(h => getComputedStyle(h).display)"
    )
    assert repeats and set(repeats) == {"table-header-group"}  # headers repeat on each page
    kept = page.eval_on_selector_all("h2", "hs => hs.map(h => getComputedStyle(h).breakAfter)")
    assert set(kept) == {"avoid"}  # no heading stranded at a page's foot
    page.pdf(path=OUTPUT / f"{name}.pdf", format="A4")
    page.close()
