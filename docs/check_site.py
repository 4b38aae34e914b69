"""Open the built website in headless Chromium and check what a reader sees.

Run from the repository root after building the site::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python docs/check_site.py

For every tutorial page, the API reference and the other pages of
``docs/_build/html`` it checks, in a real browser (Debian's ``chromium``,
driven over the DevTools protocol with ``websocket-client``):

* **math**: MathJax finished and typeset every formula: the page has
  ``mjx-container`` elements where it has math, and its rendered text
  (outside code blocks) holds no raw TeX: no ``\\(``, ``\\[``, ``$$`` or
  ``$\\``;
* **images**: every ``<img>`` loaded (``complete`` and a non-zero natural width);
* **links**: every internal link points to an existing file and, when it has a
  ``#fragment``, to an element with that id;
* **offline**: the page requested nothing from the network (MathJax, fonts and
  scripts all come from the build folder), and threw no JavaScript error.

It saves one screenshot, ``docs/_build/screenshot.png`` (a tutorial page), and
exits non-zero, listing every problem, when a check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import websocket

DOCS = Path(__file__).resolve().parent
HTML = DOCS / "_build" / "html"
SCREENSHOT = DOCS / "_build" / "screenshot.png"
SCREENSHOT_PAGE = "tutorials/05b_block_by_hand.html"
RAW_TEX = ("\\(", "\\[", "$$", "$\\")

PAGE_REPORT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const clone = document.querySelector('article') || document.body;
  const copy = clone.cloneNode(true);
  copy.querySelectorAll('pre, code, .highlight, script, style, mjx-container, mjx-assistive-mml')
      .forEach(e => e.remove());
  const images = Array.from(document.images).map(img => ({
      src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const mathSources = document.querySelectorAll('.math, span.math, div.math').length;
  return JSON.stringify({
    text: copy.innerText,
    mjx: document.querySelectorAll('mjx-container').length,
    mathSources: mathSources,
    mathjax: !!window.MathJax,
    images: images,
    links: links,
  });
})()
"""


class Browser:
    """A headless Chromium and one DevTools websocket to its page."""

    def __init__(self, executable: str, width: int = 1280, height: int = 1400) -> None:
        self.profile = tempfile.mkdtemp(prefix="wavelearn-chromium-")
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--allow-file-access-from-files", f"--window-size={width},{height}",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._devtools_port()
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")

    def _devtools_port(self, timeout: float = 60.0) -> int:
        marker = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.proc.returncode}")
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port within 60 s")

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events are collected)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return
            self.events.append(json.loads(self.ws.recv()))
        raise RuntimeError(f"{url} did not finish loading within 120 s")

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"]["value"]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            shutil.rmtree(self.profile, ignore_errors=True)


class _Ids(HTMLParser):
    """Every ``id`` (and ``name`` of an anchor) in an HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value)


_ID_CACHE: dict[Path, set[str]] = {}


def ids_of(path: Path) -> set[str]:
    if path not in _ID_CACHE:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _ID_CACHE[path] = parser.ids
    return _ID_CACHE[path]


def check_link(href: str) -> str | None:
    """``None`` if an internal link resolves, else why not (external links are skipped)."""
    url, fragment = urldefrag(href)
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    target = Path(unquote(parsed.path))
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"link to a missing file: {href}"
    if fragment and target.suffix == ".html" and unquote(fragment) not in ids_of(target):
        return f"link to a missing anchor #{fragment} in {target.relative_to(HTML)}"
    return None


def network_problems(events: list[dict]) -> list[str]:
    problems = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                problems.append(f"requested from the network: {url}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"a resource failed to load: {params.get('errorText')}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"JavaScript error: {text}")
    return problems


def check_page(browser: Browser, page: Path) -> tuple[list[str], dict]:
    browser.open(page.as_uri())
    report = json.loads(browser.evaluate(PAGE_REPORT_JS))
    problems = network_problems(browser.events)
    if report["mathSources"] and not report["mathjax"]:
        problems.append("the page has math but MathJax did not load")
    if report["mathSources"] and report["mjx"] == 0:
        problems.append(f"{report['mathSources']} math elements, none typeset by MathJax")
    for raw in RAW_TEX:
        at = report["text"].find(raw)
        if at >= 0:
            snippet = report["text"][max(0, at - 40): at + 40].replace("\n", " ")
            problems.append(f"raw TeX {raw!r} in the rendered text: ...{snippet}...")
    problems += [f"image did not load: {img['src'][:120]}" for img in report["images"]
                 if not img["ok"]]
    problems += [p for p in (check_link(href) for href in set(report["links"])) if p]
    stats = {"math": report["mjx"], "images": len(report["images"]),
             "links": len(set(report["links"]))}
    return problems, stats


def pages_to_check(html: Path) -> list[Path]:
    tutorials = sorted((html / "tutorials").glob("*.html"))
    extra = [html / name for name in ("index.html", "api.html")]
    return extra + tutorials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium",
                        help="the browser executable (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    if not (HTML / "index.html").exists():
        print(f"no site in {HTML}: build it first (python -m sphinx -W --keep-going -b html "
              "docs docs/_build/html)", file=sys.stderr)
        return 2
    if not shutil.which(args.chromium):
        print(f"chromium not found ({args.chromium!r}): apt-get install chromium",
              file=sys.stderr)
        return 2
    browser = Browser(args.chromium)
    failures = 0
    try:
        for page in pages_to_check(HTML):
            problems, stats = check_page(browser, page)
            name = page.relative_to(HTML)
            status = "ok" if not problems else f"{len(problems)} problem(s)"
            print(f"{name}: {stats['math']} formulas typeset, {stats['images']} images, "
                  f"{stats['links']} links: {status}")
            for p in problems:
                print(f"    {p}")
            failures += bool(problems)
        browser.open((HTML / SCREENSHOT_PAGE).as_uri())
        browser.evaluate(PAGE_REPORT_JS)  # waits for MathJax
        browser.screenshot(SCREENSHOT)
        print(f"screenshot of {SCREENSHOT_PAGE}: {SCREENSHOT}")
    finally:
        browser.close()
    print(f"{failures} page(s) with problems" if failures else "every page passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
