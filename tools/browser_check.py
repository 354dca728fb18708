"""Load every page of the built book in headless Chromium and fail on anything a reader would see broken.

    python tools/browser_check.py [_build/html]          # `make browser-check`, part of `make test`

The site is served from 127.0.0.1 by a thread of this process and opened in Debian's Chromium
(``/usr/bin/chromium``, or ``$CHROMIUM``) through Playwright; Playwright's own browser download is
never used. A page fails when:

- it requests anything from a host other than 127.0.0.1 (the book must work offline; the request
  is blocked and reported), a request fails, or a response is an HTTP error;
- it logs a console error or throws an uncaught exception;
- TeX is left unrendered: a ``.math`` element without MathJax output, a MathJax error box
  (``mjx-merror``: bad TeX or an undefined macro), or ``$$``, ``\\(``, ``\\[``, ``\\begin{``,
  ``$...\\macro...$`` in visible text outside code;
- a ``.mermaid`` block has no ``<svg>`` after rendering, or renders mermaid's error diagram;
- an ``<a href>`` to a page of the book points to a missing file or a missing ``#id``;
- an ``<img>`` fails to decode or has ``naturalWidth`` 0.

Content hidden in dropdowns (solutions, ``<details>``) is revealed before the checks, so it is
checked too. A full-page screenshot of the attention chapter goes to ``_build/screenshots/``.
The search page must find results for "attention"; the chapter must carry the search button, the
dark-mode switcher, the download menu and the "Open in Colab" link, and switching it to dark mode
must redraw its diagrams without errors.

Without Chromium the check prints why it was skipped and exits 0, unless BROWSER_CHECK=required
(set by .ci/run), where a missing browser is an error.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from set_repo import current_url  # tools/set_repo.py, beside this script

REPO = Path(__file__).resolve().parents[1]
# the Colab address of the repository named in _config.yml (make set-repo changes it)
COLAB = current_url(REPO).replace(
    "https://github.com/", "https://colab.research.google.com/github/"
)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_PAGE = "notebooks/20_attention.html"
SCREENSHOT = Path("screenshots") / "attention.png"  # beside the site: _build/screenshots/
PAGE_TIMEOUT_MS = 30_000
RENDER_TIMEOUT_MS = 20_000
LOCAL_HOST = "127.0.0.1"

# Waits for MathJax's first typesetting (when the page loads MathJax) and reports its errors.
MATHJAX_JS = """async () => {
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return {loaded: false};
  await MathJax.startup.promise;
  const errors = [];
  let count = 0;
  for (const item of MathJax.startup.document.math) {
    count += 1;
    let mml = '';
    try { mml = MathJax.startup.toMML(item.root); } catch (e) { mml = ''; }
    if (mml.includes('<merror')) {
      const m = mml.match(/data-mjx-error="([^"]*)"/) || mml.match(/title="([^"]*)"/);
      errors.push((m ? m[1] + ': ' : '') + item.math.slice(0, 120));
    }
  }
  const boxes = document.querySelectorAll('mjx-merror').length;
  if (boxes > errors.length) errors.push(boxes + ' MathJax error box(es) on the page');
  return {loaded: true, errors, count};
}"""

# Opens everything a reader can expand, so hidden solutions and diagrams are checked too.
REVEAL_JS = """() => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach((el) => el.classList.remove('toggle-hidden'));
}"""

# True once every mermaid block has an svg, or mermaid gave up on it.
MERMAID_DONE_JS = """() => Array.from(document.querySelectorAll('.mermaid')).every(
  (el) => el.querySelector('svg') || el.hasAttribute('data-mermaid-render-failed'))"""

MERMAID_VISIBLE_DONE_JS = """() => Array.from(document.querySelectorAll('.mermaid')).every(
  (el) => el.querySelector('svg') || el.hasAttribute('data-mermaid-deferred')
          || el.hasAttribute('data-mermaid-render-failed'))"""

MERMAID_JS = """() => Array.from(document.querySelectorAll('.mermaid')).map((el, i) => {
  const svg = el.querySelector('svg');
  const error = svg && (svg.getAttribute('aria-roledescription') === 'error'
                        || /Syntax error/.test(svg.textContent));
  return {i, ok: Boolean(svg) && !error,
          why: !svg ? 'no <svg> after rendering' : 'mermaid drew its error diagram',
          source: (el.getAttribute('data-original-code') || el.textContent).trim().slice(0, 80)};
}).filter((d) => !d.ok)"""

# Text nodes outside code, MathJax output and diagrams that still hold TeX.
RAW_TEX_JS = r"""() => {
  const pattern = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\end\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/;
  const skip = 'pre, code, kbd, samp, script, style, textarea, template, mjx-container, .mermaid';
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const m = node.textContent.match(pattern);
    if (m) {
      const at = Math.max(0, m.index - 40);
      found.push(node.textContent.slice(at, m.index + 60).replace(/\s+/g, ' ').trim());
    }
  }
  const unprocessed = Array.from(document.querySelectorAll('.math'))
    .filter((el) => !el.querySelector('mjx-container'))
    .map((el) => 'not typeset: ' + el.textContent.trim().slice(0, 80));
  return found.map((t) => 'raw TeX in text: ' + t).concat(unprocessed);
}"""

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach((img) => { img.loading = 'eager'; });
  const decoded = await Promise.all(imgs.map((img) => img.decode().then(() => '', (e) => String(e))));
  return imgs.map((img, i) => ({src: img.getAttribute('src') || '', width: img.naturalWidth,
                                 error: decoded[i]}))
             .filter((img) => img.error || img.width === 0);
}"""

LINKS_JS = """() => ({
  links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
  ids: Array.from(document.querySelectorAll('[id], a[name]')).map((el) => el.id || el.name),
})"""

FEATURES = {  # on the attention chapter: what _config.yml promises a reader
    "search button": ".search-button__button",
    "dark-mode switcher": ".theme-switch-button",
    "download menu (.ipynb, .md, .pdf)": ".dropdown-download-buttons a[href$='.ipynb']",
    "Open in Colab link": f"a[href^='{COLAB}/blob/main/notebooks/20_attention.ipynb']",
    "licence footer (LICENSE)": ".extra_footer a[href='https://creativecommons.org/licenses/by/4.0/']",
}


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",  # module scripts must be served as JavaScript
        ".js": "text/javascript",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".svg": "image/svg+xml",
    }

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def serve(site: Path) -> ThreadingHTTPServer:
    """Serve ``site`` on a free port of 127.0.0.1 from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            self.refresh = re.sub(r"^\s*\d+\s*;\s*url=", "", a.get("content") or "", flags=re.I)


@functools.cache
def anchors(path: Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_link(
    site: Path, page_file: Path, href: str, origin: str, live_ids: set[str]
) -> str | None:
    """The problem with one link, or None. Only links into the book (same origin) are checked."""
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != origin:
        return None
    rel = unquote(parts.path).lstrip("/")
    target = site / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"broken link: {href} (no file {target.relative_to(site)})"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html":
        ids = anchors(target).ids | (live_ids if target == page_file else set())
        if fragment not in ids:
            return f"broken link: {href} (no id {fragment!r} in {target.relative_to(site)})"
    return None


def check_page(context, site: Path, origin: str, page_file: Path, screenshot: Path | None):
    rel = page_file.relative_to(site).as_posix()
    report = PageReport(rel)
    page = context.new_page()
    problems = report.problems

    def on_route(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == LOCAL_HOST:
            route.continue_()
        else:
            problems.append(f"external request (the book must be offline): {route.request.url}")
            route.abort("blockedbyclient")

    page.route("**/*", on_route)
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and problems.append(f"console error: {m.text} [{m.location.get('url', '')}]")
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"uncaught exception: {exc}"))
    page.on(
        "requestfailed",
        lambda r: (
            urlsplit(r.url).hostname == LOCAL_HOST
            and problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    page.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )

    start = time.perf_counter()
    page.goto(f"{origin}/{rel}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
    math = page.evaluate(MATHJAX_JS)
    problems.extend(f"MathJax error: {e}" for e in math.get("errors", []))
    n_mermaid = page.locator(".mermaid").count()
    if n_mermaid:
        try:
            page.wait_for_function(MERMAID_VISIBLE_DONE_JS, timeout=RENDER_TIMEOUT_MS)
        except Exception:  # reported below, diagram by diagram
            pass
    if screenshot is not None:
        for name, selector in FEATURES.items():
            if page.locator(selector).count() == 0:
                problems.append(f"missing on the chapter page: {name} ({selector})")
        page.wait_for_timeout(300)  # let fonts and the last diagram settle before the picture
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        report.notes.append(f"screenshot {screenshot}")

    page.evaluate(REVEAL_JS)
    if n_mermaid:
        for i in range(n_mermaid):
            page.locator(".mermaid").nth(i).scroll_into_view_if_needed()
        try:
            page.wait_for_function(MERMAID_DONE_JS, timeout=RENDER_TIMEOUT_MS)
        except Exception:
            pass
        problems.extend(
            f"mermaid diagram {d['i'] + 1}: {d['why']} ({d['source']!r})"
            for d in page.evaluate(MERMAID_JS)
        )
    if math.get("loaded"):
        page.evaluate("() => MathJax.startup.promise")  # typesetting of revealed content, if any
    problems.extend(page.evaluate(RAW_TEX_JS))
    problems.extend(
        f"broken image: {img['src'][:100]} ({img['error'] or 'naturalWidth 0'})"
        for img in page.evaluate(IMAGES_JS)
    )
    found = page.evaluate(LINKS_JS)
    live_ids = set(found["ids"])
    for href in sorted(set(found["links"])):
        problem = check_link(site, page_file, href, origin, live_ids)
        if problem:
            problems.append(problem)
    if screenshot is not None:  # dark mode: the switcher works and diagrams redraw without errors
        page.click(".theme-switch-button")
        try:
            page.wait_for_function(
                "() => document.documentElement.dataset.theme === 'dark'", timeout=5000
            )
            page.wait_for_timeout(500)  # mermaid re-renders on the theme change
            page.wait_for_function(MERMAID_DONE_JS, timeout=RENDER_TIMEOUT_MS)
        except Exception:
            problems.append(
                "dark mode: the theme switcher did not switch to dark, or diagrams did not redraw"
            )
        problems.extend(
            f"dark mode: mermaid diagram {d['i'] + 1}: {d['why']}"
            for d in page.evaluate(MERMAID_JS)
        )
    page.wait_for_timeout(500)  # late console errors and requests (e.g. a favicon)
    page.close()
    report.notes.insert(
        0,
        f"{time.perf_counter() - start:.1f} s, {math.get('count', 0)} formulas, "
        f"{n_mermaid} diagrams, {len(set(found['links']))} links",
    )
    return report


def check_search(context, origin: str) -> list[str]:
    """The search page must list results for a word every chapter uses."""
    page = context.new_page()
    page.goto(f"{origin}/search.html?q=attention", wait_until="load", timeout=PAGE_TIMEOUT_MS)
    try:
        page.wait_for_selector("ul.search li", timeout=RENDER_TIMEOUT_MS)
        found = page.locator("ul.search li").count()
    except Exception:
        found = 0
    page.close()
    return [] if found else ['search: "attention" found nothing on search.html']


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", nargs="?", type=Path, default=REPO / "_build" / "html")
    args = ap.parse_args(argv)
    site = args.site.resolve()

    required = os.environ.get("BROWSER_CHECK", "").lower() == "required"
    why = None
    if not (shutil.which(CHROMIUM) or os.access(CHROMIUM, os.X_OK)):
        why = f"{CHROMIUM} not found (install Debian's chromium: apt-get install chromium; or set CHROMIUM)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            why = "playwright is not installed (pip install -e '.[test]')"
    if why:
        if required:
            print(f"browser check FAILED: {why}, and BROWSER_CHECK=required", file=sys.stderr)
            return 1
        print(f"browser check SKIPPED: {why}")
        return 0
    if not (site / "index.html").is_file():
        print(
            f"browser check FAILED: {site}/index.html missing; run `make book` first",
            file=sys.stderr,
        )
        return 1

    pages = sorted(
        p
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith(("_static", "_sources", "_images"))
    )
    server = serve(site)
    origin = f"http://{LOCAL_HOST}:{server.server_address[1]}"
    reports: list[PageReport] = []
    start = time.perf_counter()
    print(f"browser check: {len(pages)} pages of {site} at {origin} in {CHROMIUM}")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, service_workers="block"
            )
            for page_file in pages:
                rel = page_file.relative_to(site).as_posix()
                redirect = anchors(page_file).refresh
                if redirect is not None:  # index.html: a redirect to the root page
                    report = PageReport(rel, notes=[f"redirect to {redirect}"])
                    if not (page_file.parent / redirect).is_file():
                        report.problems.append(f"redirect to a missing page: {redirect}")
                else:
                    shot = site.parent / SCREENSHOT if rel == SCREENSHOT_PAGE else None
                    try:
                        report = check_page(context, site, origin, page_file, shot)
                    except Exception as exc:  # a timeout or a crash is a failure of this page
                        report = PageReport(rel, problems=[f"could not check the page: {exc}"])
                reports.append(report)
                status = "FAIL" if report.problems else "ok  "
                print(f"  {status} {rel}  ({'; '.join(report.notes)})")
                for problem in report.problems:
                    print(f"         - {problem}")
            search_problems = check_search(context, origin)
            browser.close()
    finally:
        server.shutdown()

    failed = [r for r in reports if r.problems]
    for problem in search_problems:
        print(f"  FAIL {problem}")
    if SCREENSHOT_PAGE not in {r.page for r in reports}:
        failed.append(PageReport(SCREENSHOT_PAGE, [f"{SCREENSHOT_PAGE} was not built"]))
        print(f"  FAIL {SCREENSHOT_PAGE} was not built: no screenshot")
    n_problems = sum(len(r.problems) for r in failed) + len(search_problems)
    took = time.perf_counter() - start
    if failed or search_problems:
        print(
            f"browser check FAILED: {n_problems} problem(s) on {len(failed)} page(s) ({took:.0f} s)"
        )
        return 1
    print(f"browser check passed: {len(reports)} pages, search works ({took:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
