#!/usr/bin/env python3
"""Browser test of the web console (docs/console.md): starts the real binary with BRIDGE_ADMIN_TOKEN on loopback
against a tiny fake Cloudthread, sends signed webhooks (an ordinary one, a hostile one, one the fake answers 400 so
it becomes a dead letter), then drives Debian's chromium through selenium: a wrong token is refused, sign-in, the
overview, a delivery followed from the list to its page, the hostile payload shown as text and never run, a dead
letter retried. Saves screenshots to the folder given as the argument.

    apt-get install chromium chromium-driver && pip install selenium
    swift build && scripts/console-browser-test.py /tmp/console-shots
"""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "debug", "cloudthread-bridge")
ADMIN_TOKEN = "browser-test-admin-token-0123456789abcdef"
SECRET = "browser-test-webhook-secret"
HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'
RULES = """source: deploys
verify:
  preset: github
  secrets: ["${DEPLOYS_WEBHOOK_SECRET}"]
rules:
  - name: deploy
    when:
      header.X-GitHub-Event: deployment_status
      payload.state: [success, failure]
    event:
      type: deploy
      time: payload.at
      description: "{{ payload.service }} to {{ payload.env }}: {{ payload.state }}"
"""


class FakeCloudthread(http.server.BaseHTTPRequestHandler):
    """Answers 201, except 400 for events containing 'REFUSE-ME' until `accept_all` is set (before the retry)."""

    accept_all = False

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200, [{"id": 1, "name": "platform"}] if self.path == "/teams" else {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/events" and b"REFUSE-ME" in body and not FakeCloudthread.accept_all:
            self.answer(400, {"error": "description: REFUSE-ME is not allowed here"})
            return
        self.answer(201, {"status": "ok"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_webhook(port, payload, delivery, secret=SECRET):
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/deploys", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-GitHub-Event": "deployment_status",
                 "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(what, condition, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def no_alert(driver):
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"a script ran: alert({text!r})")


def main():
    shots = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "console-screenshots")
    os.makedirs(shots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="console-browser-")
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeCloudthread)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    port = free_port()
    os.makedirs(os.path.join(work, "mappings"))
    with open(os.path.join(work, "mappings", "deploys.yaml"), "w") as f:
        f.write(RULES)
    env = dict(os.environ, BRIDGE_HOST="127.0.0.1", BRIDGE_PORT=str(port), BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
               BRIDGE_MAPPINGS=os.path.join(work, "mappings"), BRIDGE_DATA_DIR=os.path.join(work, "data"),
               DEPLOYS_WEBHOOK_SECRET=SECRET, CLOUDTHREAD_API_KEY="fake-key",
               CLOUDTHREAD_API_URL=f"http://127.0.0.1:{fake.server_address[1]}", LOG_FORMAT="text")
    log = open(os.path.join(work, "bridge.log"), "w")
    bridge = subprocess.Popen([BINARY, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    driver = None
    try:
        def ready():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200
            except Exception:
                return False
        wait_for("the bridge to be ready", ready)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        assert post_webhook(port, {"service": "checkout", "env": "production", "state": "success", "at": now},
                            "d-1") == 202
        assert post_webhook(port, {"service": "REFUSE-ME", "env": "staging", "state": "failure", "at": now},
                            "d-2") == 202
        assert post_webhook(port, {"service": HOSTILE, "env": "production", "state": "success", "at": now},
                            "d-3") == 202
        assert post_webhook(port, {"service": "forged", "env": "production", "state": "success", "at": now},
                            "d-4", secret="not-the-secret") == 401

        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(flag)
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                  options=options)
        driver.set_window_size(1280, 900)
        base = f"http://127.0.0.1:{port}"

        # Without a session every page leads to the sign-in form; a wrong token is refused.
        driver.get(base + "/ui/deliveries")
        assert driver.current_url == base + "/ui/login", driver.current_url
        driver.find_element(By.NAME, "token").send_keys("not-the-token")
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "p.error"), "not the"))
        assert driver.current_url == base + "/ui/login"
        assert not driver.get_cookies(), driver.get_cookies()

        # Sign in.
        driver.find_element(By.NAME, "token").send_keys(ADMIN_TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        WebDriverWait(driver, 10).until(EC.url_to_be(base + "/ui/"))
        cookie = driver.get_cookies()[0]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
        wait_for("the dead letter", lambda: (driver.get(base + "/ui/dead-letters") or True)
                 and "REFUSE-ME is not allowed here" in driver.page_source)
        driver.get(base + "/ui/")
        assert "deploys" in driver.page_source
        driver.save_screenshot(os.path.join(shots, "overview.png"))

        # From the list to the hostile delivery's page: shown as text, never run.
        driver.get(base + "/ui/deliveries")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.list a")
        assert len(rows) == 3, len(rows)
        rows[0].click()
        WebDriverWait(driver, 10).until(EC.url_to_be(base + "/ui/deliveries/3"))
        no_alert(driver)
        body = driver.find_element(By.CSS_SELECTOR, "pre.body").text
        assert HOSTILE.replace('"', '\\"') in body, body
        assert not driver.find_elements(By.CSS_SELECTOR, "main img, main script")
        assert "X-Hub-Signature-256" in driver.page_source and "sha256=" not in driver.page_source
        driver.save_screenshot(os.path.join(shots, "delivery.png"))

        # Retry the dead letter: the fake now accepts it.
        driver.get(base + "/ui/dead-letters")
        assert "REFUSE-ME is not allowed here" in driver.page_source
        driver.save_screenshot(os.path.join(shots, "dead-letters.png"))
        FakeCloudthread.accept_all = True
        driver.find_element(By.XPATH, "//button[text()='Retry']").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "outbox"))
        wait_for("the retried record to be sent",
                 lambda: (driver.get(base + "/ui/dead-letters") or True) and "No dead letters" in driver.page_source)

        # Phone width: the overview still fits.
        driver.set_window_size(390, 844)
        driver.get(base + "/ui/")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the overview is {width}px wide at phone width"
        driver.save_screenshot(os.path.join(shots, "overview-phone.png"))
        no_alert(driver)
        print(f"console browser test passed; screenshots in {shots}")
    except Exception:
        log.flush()
        print(open(os.path.join(work, "bridge.log")).read()[-4000:], file=sys.stderr)
        raise
    finally:
        if driver:
            driver.quit()
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=30)
        fake.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
