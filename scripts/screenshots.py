"""Screenshots of what `medgen run` leaves, taken by a real browser (Debian's chromium,
driven by Playwright through ``executable_path``; Playwright's own browser download does
not work offline):

- the report (``report/index.html``), whole page, after every picture has loaded;
- Neo4j Browser of the managed server, logged in, showing the answer of one of the
  report's queries.

The password is read from the managed server's password file inside this process and
typed into the (masked) login field: it is never printed, written to a file, put on a
command line or captured in a screenshot.

    .venv/bin/python scripts/screenshots.py --report report --out docs/images [--query 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    sys.exit("screenshots: no chromium on PATH; install it with `apt-get install chromium`")


def shoot_report(page, report: Path, out: Path) -> Path:
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto((report / "index.html").resolve().as_uri())
    page.wait_for_load_state("load")
    broken = page.evaluate("[...document.images].filter(i => !i.complete || "
                           "i.naturalWidth === 0).map(i => i.src)")
    if broken:
        sys.exit(f"screenshots: pictures that did not load: {broken}")
    path = out / "report.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def shoot_browser(page, query: str, out: Path) -> Path:
    from medgen.neo4j_server import ManagedServer

    server = ManagedServer()
    if not server.status().running:
        sys.exit("screenshots: the managed Neo4j is not running (`medgen neo4j start`)")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(server.browser_url)
    page.wait_for_selector("[data-testid='password']", timeout=60_000)
    address = page.locator("[data-testid='boltaddress']")
    if address.count():
        address.fill(f"neo4j://127.0.0.1:{server.port}")
    page.fill("[data-testid='username']", "neo4j")
    page.fill("[data-testid='password']", server.password())  # masked; never echoed
    page.click("[data-testid='connect']")
    page.wait_for_selector("[data-testid='password']", state="detached", timeout=60_000)
    editor = page.locator(".monaco-editor textarea").first
    editor.click()
    page.keyboard.insert_text(query)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid='frame']", timeout=60_000)
    # the frame's footer says so once the answer has streamed in
    page.wait_for_selector("text=/completed after/", timeout=180_000)
    page.wait_for_timeout(1500)  # the result frame draws its table or graph
    table = page.locator("[data-testid='frame'] [aria-label='Table'], "
                         "[data-testid='frame'] [title='Table']").first
    if table.count():
        table.click()
        page.wait_for_timeout(1000)
    path = out / "neo4j-browser.png"
    page.screenshot(path=str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, default=Path("report"))
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--query", type=int, default=5,
                        help="which of the report's queries (1-10) Neo4j Browser answers")
    parser.add_argument("--no-browser", action="store_true", help="the report only")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    answers = json.loads((args.report / "queries.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        print(f"screenshots: {shoot_report(page, args.report, args.out)}")
        if not args.no_browser:
            query = answers[args.query - 1]["query"]
            print(f"screenshots: {shoot_browser(page, query, args.out)}")
        browser.close()


if __name__ == "__main__":
    main()
