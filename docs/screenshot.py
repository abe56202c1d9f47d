"""Screenshot a served trial page (or any served page) with headless Chromium (Debian's chromium + chromedriver).

    python docs/screenshot.py --db store.db --trial NCT06464679 --out docs/trial-page.png
    python docs/screenshot.py --db store.db --path "/compare?similar_to=NCT06464679&top=3" --out docs/compare-page.png

Starts ``trialkb serve`` on a free port of 127.0.0.1, opens the trial page (or ``--path``), saves a PNG of the
page (up to --height pixels tall) and stops the server.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--trial", default="NCT06464679")
    parser.add_argument("--path", help="a served path instead of the trial page, e.g. /compare?ids=...")
    parser.add_argument("--out", type=Path, default=Path("docs/trial-page.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()

    from tests.support.browser import headless_chromium, serving

    with serving(["--db", args.db, "serve"]) as (_, base):
        driver = headless_chromium(width=args.width, height=args.height)
        try:
            driver.get(base + (args.path or f"/trial/{args.trial}"))
            bottom = driver.execute_script("return Math.ceil(document.querySelector('footer').getBoundingClientRect().bottom)")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the page, not the window frame
                "width": args.width, "height": min(bottom + 8, args.height), "deviceScaleFactor": 1, "mobile": False})
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
