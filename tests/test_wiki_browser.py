"""The search page in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` (DevTools messages over
file descriptors 3 and 4, NUL-terminated JSON), so no WebSocket client, no
driver download and no extra Python package is needed -- only Debian's
``chromium`` package.  Skipped when no Chromium is installed.
"""

from __future__ import annotations

import bz2
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("marisa_trie")

from manycore.apps.wiki import build_index
from manycore.apps.wiki.sample import SAMPLE_DUMP as SAMPLE
from manycore.testing import ServerProcess

BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (apt-get install chromium)"),
]


class DevTools:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: its fd 3 reads commands, fd 4 writes replies
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [BROWSER, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire_pipes,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def call(self, method: str, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium exited")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        """Poll until ``expression`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}; last value {value!r}")

    def click(self, selector: str) -> None:
        """A real left click (mouse down and up) in the middle of the element ``selector``."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            "return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def key(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
            )

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def wiki_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    dump = root / "sample.xml"
    dump.write_bytes(bz2.decompress(SAMPLE.read_bytes()))
    index = build_index(dump, root / "sample.index", progress=False, fulltext=True).directory
    command = [
        sys.executable, "-m", "manycore", "wiki", "serve", str(index),
        "--host", "127.0.0.1", "--port", "0", "--engine", "processes", "--workers", "2",
    ]  # fmt: skip
    with ServerProcess("", command=command, ready_timeout=60) as server:
        yield server


@pytest.fixture
def browser(tmp_path):
    devtools = DevTools(tmp_path / "profile")
    yield devtools
    devtools.close()


FIRST_RESULT = "document.querySelector('#results .result .title')?.textContent"


def test_type_anar_see_anarchism_first_press_enter_read_it(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
    browser.evaluate("document.getElementById('q').focus()")
    for letter in "anar":  # typed one key at a time, as a person would
        browser.call("Input.insertText", text=letter)
    assert browser.wait_for(FIRST_RESULT) == "Anarchism"
    titles = browser.evaluate(
        "[...document.querySelectorAll('#results .result')].map(li => li.dataset.title)"
    )
    assert titles == ["Anarchism", "AnarchoCapitalism", "AnarchoCapitalists", "AnarchY"]
    browser.key("Enter", 13)
    text = browser.wait_for(
        "document.getElementById('text').textContent.includes('political philosophy') && "
        "document.getElementById('text').textContent"
    )
    assert text.startswith("Anarchism is a political philosophy")
    assert browser.evaluate("document.getElementById('title').textContent") == "Anarchism"
    assert browser.evaluate("location.hash") == "#Anarchism"


def test_arrow_keys_choose_a_result_and_redirects_are_followed(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
    browser.evaluate("document.getElementById('q').focus()")
    browser.call("Input.insertText", text="abacu")
    browser.wait_for(FIRST_RESULT + " === 'Abacus'")
    browser.key("ArrowDown", 40)  # the second result: the redirect "AbacuS"
    selected = browser.evaluate(
        "document.querySelector('#results [aria-selected=true]').dataset.title"
    )
    assert selected == "AbacuS"
    browser.key("Enter", 13)
    browser.wait_for("document.getElementById('text').textContent.includes('counting frame')")
    assert browser.evaluate("document.getElementById('title').textContent") == "Abacus"
    assert "Redirected from AbacuS" in browser.evaluate(
        "document.getElementById('meta').textContent"
    )


NONE_SHOWN = (
    "!document.getElementById('none').hidden && document.getElementById('none').textContent"
)


def test_a_query_with_no_hits_says_so_and_the_next_hit_clears_it(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
    browser.evaluate("document.getElementById('q').focus()")
    browser.call("Input.insertText", text="qzxj")
    assert "qzxj" in browser.wait_for(NONE_SHOWN)
    assert browser.evaluate("document.querySelectorAll('#results .result').length") == 0
    browser.evaluate("document.getElementById('q').value = ''")
    browser.call("Input.insertText", text="apollo")
    assert browser.wait_for(FIRST_RESULT) == "Apollo"
    assert browser.evaluate("document.getElementById('none').hidden") is True


SHOWN_TITLE = "document.getElementById('title').textContent"
TEXT_LOADED = (  # the page-XML link appears once the article is in (not every article has a <p>)
    "document.querySelector('#meta a') !== null && "
    "document.getElementById('text').childElementCount > 0"
)


def test_read_an_article_follow_a_link_in_it_and_come_back(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
    browser.evaluate("document.getElementById('q').focus()")
    for letter in "anar":
        browser.call("Input.insertText", text=letter)
    assert browser.wait_for(FIRST_RESULT) == "Anarchism"
    browser.key("Enter", 13)
    browser.wait_for(TEXT_LOADED)
    # The article is rendered: a heading, a footnote, and links that open articles in the page.
    assert browser.evaluate("document.querySelector('#text h2').textContent") == (
        "Etymology and terminology"
    )
    assert browser.evaluate("document.querySelectorAll('#text sup.reference').length") > 100
    link = "#text a[href^='/#']:not(.missing)"
    target = browser.evaluate(f"document.querySelector({json.dumps(link)}).title")
    browser.click(link)
    browser.wait_for(f"{SHOWN_TITLE} !== 'Anarchism' && {TEXT_LOADED}")
    followed = browser.evaluate(SHOWN_TITLE)
    assert followed.lower() == target.lower()
    assert browser.evaluate("location.pathname") == "/"  # the page never left the app
    assert browser.evaluate("history.length") >= 3
    browser.evaluate("history.back()")
    browser.wait_for(f"{SHOWN_TITLE} === 'Anarchism' && {TEXT_LOADED}")
    assert browser.evaluate("location.hash") == "#Anarchism"
    browser.evaluate("history.forward()")
    assert browser.wait_for(f"{TEXT_LOADED} && {SHOWN_TITLE}") == followed


def test_search_inside_articles_finds_a_word_of_the_body(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
    browser.evaluate("document.getElementById('q').focus()")
    browser.call("Input.insertText", text="abacist")  # no title has it; Abacus's text does
    browser.wait_for("document.querySelector('#results .inside') !== null")
    browser.click("#results .inside")
    browser.wait_for("document.querySelector('#found li') !== null")
    assert browser.evaluate("document.querySelector('#found li a').textContent") == "Abacus"
    assert browser.evaluate("document.querySelector('#found mark').textContent") == "abacist"
    assert browser.evaluate("location.search") == "?fulltext=abacist"
    browser.click("#found li a")
    browser.wait_for(f"{SHOWN_TITLE} === 'Abacus' && {TEXT_LOADED}")
    browser.evaluate("history.back()")
    assert browser.wait_for("document.querySelector('#found li a')?.textContent") == "Abacus"
    assert browser.evaluate("location.search") == "?fulltext=abacist"


def test_the_page_offers_itself_as_a_search_engine_and_a_random_article(wiki_server, browser):
    browser.call("Page.navigate", url=wiki_server.url + "/?search=apollo")
    settled(browser, f"{SHOWN_TITLE} === 'Apollo' && {TEXT_LOADED}")  # an exact title opens
    assert browser.evaluate("location.hash") == "#Apollo"
    assert (
        browser.evaluate("document.querySelector('link[rel=search]').getAttribute('href')")
        == "/opensearch.xml"
    )
    browser.evaluate("window.before = true")
    browser.click("#random")  # a new page load: /random answers with a redirect to /#Title
    settled(browser, f"window.before === undefined && location.hash.length > 1 && {TEXT_LOADED}")
    assert browser.evaluate(SHOWN_TITLE)


def settled(browser: DevTools, expression: str, timeout: float = 20.0) -> None:
    """Wait for ``expression`` across a page load (while it loads, evaluating may fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if browser.evaluate(f"document.readyState === 'complete' && ({expression})"):
                return
        except RuntimeError:  # the old document went away under the expression
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")
