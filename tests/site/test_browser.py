"""The catalogue in a real browser: headless Debian Chromium, from file:// and over HTTP.

Two catalogues: the shipped plugin packages plus a hostile package (written by publish and
yank), and Dioptra 0.x's real task plugins (written by ``index site``).  Every page reachable
from the home page is loaded; every link on it must resolve (a file, or a page that answers
200, and an ``id`` for its fragment); the browser's console must stay free of errors; search
finds tasks by a word of their docstring; hostile text from a bundle stays text.
"""

from __future__ import annotations

import contextlib
import html
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sitehelpers import COMMIT, HOSTILE_DOC

pytestmark = pytest.mark.timeout(600)

ALL_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


def load(driver: Any, url: str) -> list[str]:
    """Open ``url`` and fail on anything the page logged as an error; returns what the page
    loaded besides itself."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    driver.find_element("tag name", "footer")  # the page is there
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], f"console errors on {url}: {errors}"
    # Nothing was loaded from anywhere but the catalogue itself: no external assets.
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)"
    )
    base = url.rsplit("/", 1)[0] + "/"
    assert all(name.startswith(base) for name in loaded), (url, loaded)
    assets = driver.execute_script(
        "return Array.from(document.querySelectorAll("
        "'script[src], link[href], img, iframe, object, embed, video, audio, source'))"
        ".map(node => node.src || node.href || node.data || '')"
    )
    assert all(a.startswith((base, "data:")) for a in assets), (url, assets)
    return list(loaded)


def read(url: str) -> bytes:
    """A link's target, from disk or from the server; fails when it does not resolve."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        assert path.is_file(), f"{url} does not resolve: {path} is not a file"
        return path.read_bytes()
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, f"{url}: HTTP {response.status}"
        data: bytes = response.read()
        return data


def crawl(driver: Any, base: str) -> dict[str, list[str]]:
    """Load every catalogue page reachable from the home page; check every link on each.

    Returns the links found per page.  Links leaving the index (a provenance commit on a
    code host) are not followed: the test runs offline.
    """
    site = base + "site/"
    pending, seen = [site + "index.html"], set()
    found: dict[str, list[str]] = {}
    while pending:
        page = pending.pop()
        if page in seen:
            continue
        seen.add(page)
        load(driver, page)
        links = list(driver.execute_script(ALL_LINKS))
        found[page] = links
        for link in links:
            if not link.startswith(base):
                assert link.startswith("https://"), f"{page} links outside the index: {link}"
                continue
            target, _, fragment = link.partition("#")
            target = target.partition("?")[0]
            body = read(target)
            if fragment:
                wanted = html.escape(urllib.parse.unquote(fragment), quote=True)
                assert f'id="{wanted}"'.encode() in body, f"{page}: {link} has no such anchor"
            if target.startswith(site) and target.endswith(".html"):
                pending.append(target)
    return found


def test_shipped_catalogue_renders_and_every_link_resolves(
    browser: Any, shipped_url: str, how: str, tmp_path: Path
) -> None:
    found = crawl(browser, shipped_url)
    site = shipped_url + "site/"
    assert set(found) == {
        site + page
        for page in (
            "index.html",
            "dioptra-builtins.html",
            "dioptra-examples.html",
            "hostile-pkg.html",
        )
    }
    links = [link for page in found.values() for link in page]
    assert shipped_url + "bundles/dioptra-builtins/dioptra_builtins-1.0.0-py3-none-any.whl" in links
    assert shipped_url + "simple/dioptra-examples/index.html" in links
    # The provenance commit links to the repository's commit page; only there leaves the index.
    assert sorted(link for link in links if not link.startswith(shipped_url)) == [
        "https://github.com/example/plugins",
        f"https://github.com/example/plugins/commit/{COMMIT}",
    ]
    browser.get(site + "dioptra-examples.html")
    browser.save_screenshot(str(tmp_path / f"project-{how}.png"))


def test_dioptra_catalogue_renders_and_every_link_resolves(browser: Any, dioptra_url: str) -> None:
    found = crawl(browser, dioptra_url)
    site = dioptra_url + "site/"
    assert set(found) == {
        site + page
        for page in (
            "index.html",
            "dioptra-builtins.html",
            "dioptra-custom-custom-fgm-plugins.html",
            "dioptra-custom-feature-squeezing.html",
        )
    }
    browser.get(site + "index.html")
    rows = browser.find_elements("css selector", "#projects tr")
    assert len(rows) == 4  # the heading and three projects


def settled(driver: Any, read: Callable[[], object], expected: object) -> None:
    """Wait (30 s at most: a loaded machine) until ``read()`` gives ``expected``."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    with contextlib.suppress(TimeoutException):  # the assertion below says what was there
        WebDriverWait(driver, 30, poll_frequency=0.05).until(lambda _: read() == expected)
    assert read() == expected


def results(driver: Any) -> list[tuple[str, str]]:
    """(task name, link) of each search result shown."""
    return [
        (link.text, link.get_attribute("href"))
        for link in driver.find_elements("css selector", "#results a.task-link")
    ]


@pytest.mark.parametrize(
    ("catalogue", "word", "task", "page"),
    [
        ("shipped", "Generator", "init_rng", "dioptra-builtins.html"),
        ("shipped", "macro", "evaluate_model", "dioptra-examples.html"),
        ("dioptra", "Gradient", "create_adversarial_fgm_dataset", "dioptra-builtins.html"),
    ],
)
def test_search_finds_a_task_by_a_word_of_its_docstring(
    browser: Any,
    request: pytest.FixtureRequest,
    how: str,
    catalogue: str,
    word: str,
    task: str,
    page: str,
) -> None:
    base = request.getfixturevalue(f"{catalogue}_url")
    loaded = load(browser, f"{base}site/index.html?q={word}")
    if how == "http":  # (Chromium keeps no resource timings for file:// pages)
        assert loaded == [f"{base}site/search.js"]  # the search data, by a script tag
    assert browser.find_element("id", "q").get_attribute("value") == word
    found = results(browser)
    assert (task, f"{base}site/{page}#task-{_module_of(browser, task)}.{task}") in found
    # The result leads to the task on its project page.
    link = next(a for a in browser.find_elements("css selector", "#results a") if a.text == task)
    link.click()
    assert browser.current_url.startswith(f"{base}site/{page}#task-")
    anchor = browser.current_url.partition("#")[2]
    assert browser.find_element("id", anchor).is_displayed()


def _module_of(driver: Any, task: str) -> str:
    for item in driver.find_elements("css selector", "#results li"):
        if item.find_element("css selector", "a").text == task:
            return str(item.find_element("css selector", ".where").text.split(" ")[0])
    raise AssertionError(f"{task} not among the results")


def test_search_by_parameter_name_and_typing_updates_the_url(
    browser: Any, shipped_url: str, how: str
) -> None:
    load(browser, shipped_url + "site/index.html")
    assert results(browser) == []
    box = browser.find_element("id", "q")
    box.send_keys("epsilon")  # a parameter of attack_model (and fgm), in no name or docstring
    settled(browser, lambda: sorted(name for name, _ in results(browser)), ["attack_model", "fgm"])
    settled(browser, lambda: browser.current_url, shipped_url + "site/index.html?q=epsilon")
    # The URL holds the query: loading it again shows the same results.
    load(browser, browser.current_url)
    assert sorted(name for name, _ in results(browser)) == ["attack_model", "fgm"]
    box = browser.find_element("id", "q")
    box.clear()
    box.send_keys("nothing matches this")
    settled(browser, lambda: browser.find_element("id", "status").text, "0 tasks found")
    assert results(browser) == []


def test_a_hostile_docstring_stays_inert(browser: Any, shipped_url: str, tmp_path: Path) -> None:
    """Markup in a docstring, a label, annotations, defaults and a yank reason is shown as
    text: no alert opens, no element is injected."""
    load(browser, shipped_url + "site/index.html?q=zanzibar")
    assert results(browser) == [
        ("steal", shipped_url + "site/hostile-pkg.html#task-hostile_pkg.steal")
    ]
    doc = browser.find_element("css selector", "#results .doc").text
    assert doc == HOSTILE_DOC
    _assert_nothing_injected(browser, scripts=2)
    browser.save_screenshot(str(tmp_path / "hostile-search.png"))

    load(browser, shipped_url + "site/hostile-pkg.html")
    _assert_nothing_injected(browser, scripts=0)
    text = browser.find_element("tag name", "main").text
    assert HOSTILE_DOC in text
    assert "<b onmouseover=alert(3)>label</b>" in text
    assert "yanked: <script>alert(7)</script>" in text
    assert " '</script><script>alert(5)</script>'" in text
    # The recorded provenance: the commit, linked to the repository's commit page.
    commit = browser.find_element("link text", COMMIT)
    assert commit.get_attribute("href") == f"https://github.com/example/plugins/commit/{COMMIT}"


def _assert_nothing_injected(driver: Any, *, scripts: int) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it is the check
    assert driver.execute_script("return document.querySelectorAll('img, b').length") == 0
    assert driver.execute_script("return document.scripts.length") == scripts
    assert driver.execute_script("return document.querySelectorAll('[onerror]').length") == 0


def test_pages_and_links_work_without_javascript(
    browser_without_javascript: Any, shipped_url: str
) -> None:
    """JavaScript only filters the search: with it off, the home page lists every project and
    its links lead to the project pages, whose tasks and files are all there."""
    driver = browser_without_javascript
    driver.get(shipped_url + "site/index.html?q=zanzibar")
    # The page's script did not run (it would say "1 task found"), and nothing breaks.
    assert driver.find_element("id", "status").text == "38 tasks in 3 projects"
    assert results(driver) == []
    names = [a.text for a in driver.find_elements("css selector", "#projects a")]
    assert names == ["dioptra-builtins", "dioptra-examples", "hostile-pkg"]
    driver.find_element("link text", "dioptra-examples").click()
    assert driver.current_url == shipped_url + "site/dioptra-examples.html"
    assert driver.find_element("id", "task-dioptra_examples.models.attack_model").is_displayed()
    assert "sha256" in driver.find_element("tag name", "main").text
