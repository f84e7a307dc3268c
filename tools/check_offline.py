"""Check that the built book needs no network: ``python tools/check_offline.py [options]``.

1. *Static*: no page of ``_build/html`` loads a remote resource (``<script src>``,
   ``<link rel=stylesheet|preload|icon>``, ``<img>``, ``<iframe>``, CSS ``url()``/``@import``),
   and the pages load MathJax from the book's own ``_static/mathjax/``.
2. *In a browser* (skipped with ``--static-only``): headless Chromium, with every network
   request sent to a dead proxy and every host name unresolvable, opens a page with equations,
   records each request it makes (Chromium's net log), counts the typeset equations in the
   final DOM, and takes a screenshot to look at. Chromium is not a project dependency; on
   Debian: ``apt-get install chromium``.

Exit code 0 if everything holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
LOADING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "shortcut",
                "manifest", "apple-touch-icon"}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])(https?:)?//""", re.IGNORECASE)
MATHJAX = "_static/mathjax/tex-chtml.js"


class _Resources(HTMLParser):
    """URLs of the resources an HTML page loads (not the links a reader may follow)."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") \
                and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and \
                LOADING_RELS & set((a.get("rel") or "").lower().split()):
            self.urls.append(a["href"])
        elif tag == "object" and a.get("data"):
            self.urls.append(a["data"])


def static_check(html_dir):
    """Problems found in the built files (an empty list if none)."""
    html_dir = Path(html_dir)
    pages = sorted(html_dir.rglob("*.html"))
    if not pages:
        return [f"no HTML pages under {html_dir}: build the book first"]
    problems, mathjax_pages = [], 0
    for page in pages:
        parser = _Resources()
        parser.feed(page.read_text(errors="replace"))
        for url in parser.urls:
            if REMOTE.match(url):
                problems.append(f"{page.relative_to(html_dir)} loads {url}")
            if url.split("?")[0].endswith(MATHJAX):
                mathjax_pages += 1
    for css in sorted(html_dir.rglob("*.css")):
        for line in css.read_text(errors="replace").splitlines():
            if CSS_URL.search(line):
                problems.append(f"{css.relative_to(html_dir)}: {line.strip()[:120]}")
    if not (html_dir / MATHJAX).exists():
        problems.append(f"{MATHJAX} is missing from the build")
    if mathjax_pages == 0:
        problems.append(f"no page loads MathJax from {MATHJAX}")
    return problems


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def page_requests(netlog):
    """Network URLs requested by pages in a Chromium net log (not by the browser itself).

    The browser's own background requests (updates, accounts) start with the initiator
    ``"not an origin"``; everything a page asks for carries the page's origin.
    """
    if not Path(netlog).exists():
        return ["(no net log written)"]
    log = json.loads(Path(netlog).read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = {e["params"]["url"] for e in log["events"]
            if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"
            and re.match(r"(https?|wss?|ftp)://", e["params"]["url"])}
    return sorted(urls)


def browser_check(page, screenshot, timeout=120):
    """Open ``page`` offline in headless Chromium; return (problems, typeset equations)."""
    chromium = _chromium()
    if chromium is None:
        return ["no chromium found (apt-get install chromium), or use --static-only"], 0
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "net.json"
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-default-apps",
                  "--disable-features=OptimizationHints,MediaRouter,Translate",
                  f"--user-data-dir={tmp}/profile", "--proxy-server=127.0.0.1:9",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000",
                  "--window-size=1280,1400", "--hide-scrollbars"]
        url = Path(page).resolve().as_uri()
        subprocess.run(common + [f"--screenshot={Path(screenshot).resolve()}",
                                 f"--log-net-log={netlog}", url],
                       capture_output=True, timeout=timeout, check=False)
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=timeout, check=False).stdout
        requested = page_requests(netlog)
    problems = [f"requested {u}" for u in requested]
    typeset = dom.count("<mjx-container")
    raw = len(re.findall(r'class="math[^"]*"', dom))
    if typeset == 0:
        problems.append("no equation was typeset (no <mjx-container> in the final page)")
    if raw > typeset:
        problems.append(f"{raw} math elements but only {typeset} typeset equations")
    if not Path(screenshot).exists():
        problems.append("chromium wrote no screenshot")
    return problems, typeset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                    help="the built book (default _build/html)")
    ap.add_argument("--page", default="book/notation.html",
                    help="page with equations to open in the browser (relative to --html)")
    ap.add_argument("--screenshot", type=Path, default=ROOT / "_build" / "offline-check.png",
                    help="where to write the screenshot (default _build/offline-check.png)")
    ap.add_argument("--static-only", action="store_true", help="skip the browser check")
    args = ap.parse_args(argv)

    problems = static_check(args.html)
    print(f"static check of {args.html.name}/: "
          f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
    if not args.static_only:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        found, typeset = browser_check(args.html / args.page, args.screenshot)
        print(f"browser check of {args.page}: {typeset} equations typeset offline, "
              f"screenshot {args.screenshot.name}; "
              f"{'OK' if not found else f'{len(found)} problem(s)'}")
        problems += found
    for p in problems:
        print("  " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
