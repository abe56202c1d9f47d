"""Screenshot a served trial page with headless Chromium (Debian's chromium + chromedriver).

    python docs/screenshot.py --db store.db --trial NCT06464679 --out docs/trial-page.png

Starts ``trialkb serve`` on a free port of 127.0.0.1, opens the trial page, saves a PNG of the
page (up to --height pixels tall) and stops the server.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--trial", default="NCT06464679")
    parser.add_argument("--out", type=Path, default=Path("docs/trial-page.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("trialkb")), "--db", args.db, "serve",
                               "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                         f"--window-size={args.width},{args.height}"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(f"{base}/trial/{args.trial}")
            bottom = driver.execute_script("return Math.ceil(document.querySelector('footer').getBoundingClientRect().bottom)")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the page, not the window frame
                "width": args.width, "height": min(bottom + 8, args.height), "deviceScaleFactor": 1, "mobile": False})
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
