"""Headless Chromium (Debian's, installed by tools/install-deps.sh) for
tests and docs: load a page, run its scripts, read the rendered DOM or take
a screenshot; slow_frame keeps a page running in real time before the
screenshot."""

import http.server
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

BROWSER_WAIT = 60
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(url, *mode, budget_ms=4000):
    """Runs headless Chromium on url with its own profile; -> stdout. The
    page runs for budget_ms of virtual time (timers fast-forward); with
    budget_ms=None until its load event, in real time."""
    if not CHROMIUM:
        pytest.fail("chromium is not installed (tools/install-deps.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="bazaar-chromium-") as profile:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--disable-dev-shm-usage",
                            "--user-data-dir=" + profile,
                            *(["--virtual-time-budget=%d" % budget_ms] if budget_ms else []),
                            *mode, url],
                           capture_output=True, text=True, timeout=BROWSER_WAIT, cwd=profile)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def rendered(url, *mode):
    """The DOM after the page's scripts ran: element id -> text for the
    header figures, and the text of the process table and events. More
    flags in mode (a --screenshot=PATH) act in the same Chromium run."""
    dom = chromium(url, "--dump-dom", *mode)
    found = {}
    tags = {"leader": "b", "epoch": "b", "conn": "div", "procs": "tbody", "events": "ul",
            "cached": "div"}
    for name, tag in tags.items():
        m = re.search(r'<%s[^>]*\bid="%s"[^>]*>(.*?)</%s>' % (tag, name, tag), dom, re.S)
        found[name] = re.sub(r"<[^>]+>", " ", m.group(1)) if m else None
    return found


WATCH_S = 16


def slow_frame(url, seconds):
    """A page that shows url in a full-window frame and whose load event
    (when Chromium takes the screenshot) waits `seconds` for a hidden
    image, so the dashboard runs that long in real time first."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/slow":
                time.sleep(seconds)      # the point of this server: a late load event
                self.send_response(204)
                self.end_headers()
                return
            body = ('<!doctype html><html style="height:100%%"><body style="margin:0;'
                    'height:100%%;overflow:hidden;background:#0f1419"><iframe src="%s" '
                    'style="border:0;width:100%%;height:100%%" scrolling="no"></iframe>'
                    '<img src="/slow" style="display:none"></body></html>' % url).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/" % server.server_address[1]
