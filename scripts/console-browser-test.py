#!/usr/bin/env python3
"""Browser test of the web console (docs/console.md): starts the real binary with BRIDGE_ADMIN_TOKEN on loopback
against a tiny fake Cloudthread, sends signed webhooks (an ordinary one, a hostile one, one the fake answers 400 so
it becomes a dead letter), then drives Debian's chromium through selenium: a wrong token is refused, sign-in, the
overview (the configured source first, with its chart, then the disabled one), a delivery followed from the list
to its page, the hostile payload shown as text and never run, a dead letter retried, the timeline with its events
and the fake's daily cost as a line, a payload tried on /ui/try with its matched rule. Every page is checked with
axe-core 4 (PyPI selenium-axe-python, or axe-selenium-python 3 on Python 3.12+): any violation of WCAG 2.0/2.1 level A or AA fails the test. Saves screenshots to
the folder given as the argument.

    apt-get install chromium chromium-driver && pip install selenium selenium-axe-python
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

try:
    # axe-core 4 (axe-selenium-python 2.x, the newest for Python < 3.12, bundles axe-core 3.1, which has no
    # WCAG 2.1 tags); the same API as axe-selenium-python.
    from selenium_axe_python import Axe
except ImportError:
    from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

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
      url: "https://ci.example.com/{{ payload.service }}"
"""
# A source whose secret is not set: disabled, listed after the configured one although its name sorts first.
DISABLED_RULES = RULES.replace("source: deploys", "source: aaa-unset").replace("DEPLOYS_WEBHOOK_SECRET",
                                                                               "AAA_UNSET_WEBHOOK_SECRET")
COST_VIEW = "view-1"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class FakeCloudthread(http.server.BaseHTTPRequestHandler):
    """Answers 201, except 400 for events containing 'REFUSE-ME' until `accept_all` is set (before the retry)."""

    accept_all = False
    cost_reads = 0

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
        if self.path.startswith(f"/cost/metric/{COST_VIEW}?"):
            # A daily cost for each of the last 31 days, rising then falling.
            today = time.time() // 86400
            days = [time.strftime("%Y%m%d", time.gmtime((today - d) * 86400)) for d in range(31)]
            self.answer(200, {"data": [{"date": day, "current_timeframe_cost": 1200 + 40 * (d % 9)}
                                       for d, day in enumerate(days)]})
            FakeCloudthread.cost_reads += 1
            return
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


def check_accessibility(driver, name):
    """axe-core on the page as shown: no violation of WCAG 2.0/2.1 level A or AA."""
    Axe(driver).inject()
    # axe.run directly rather than Axe.run: a rejected run is reported instead of waiting for the script timeout.
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"axe.run(document, {json.dumps({'runOnly': {'type': 'tag', 'values': AXE_TAGS}})})"
        ".then(r => done(r), e => done({error: String(e)}));")
    if "error" in results and "Could not find tags" in results["error"]:
        raise AssertionError(f"axe-core {driver.execute_script('return axe.version')} has no WCAG 2.1 tags: "
                             "pip install selenium-axe-python (axe-core 4)")
    if "error" in results:
        raise AssertionError(f"axe-core could not check {name}: {results['error']}")
    violations = results["violations"]
    if violations:
        lines = [f"{v['id']} ({v['impact']}): {v['help']}; " + "; ".join(n["target"][0] for n in v["nodes"][:5])
                 for v in violations]
        raise AssertionError(f"accessibility violations on {name}:\n" + "\n".join(lines))
    print(f"axe: {name}: no violation of {', '.join(AXE_TAGS)} ({len(results['passes'])} rules passed)")


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
    with open(os.path.join(work, "mappings", "aaa-unset.yaml"), "w") as f:
        f.write(DISABLED_RULES)
    env = dict(os.environ, BRIDGE_HOST="127.0.0.1", BRIDGE_PORT=str(port), BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
               BRIDGE_MAPPINGS=os.path.join(work, "mappings"), BRIDGE_DATA_DIR=os.path.join(work, "data"),
               DEPLOYS_WEBHOOK_SECRET=SECRET, CLOUDTHREAD_API_KEY="fake-key", CLOUDTHREAD_COST_VIEW_ID=COST_VIEW,
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
        check_accessibility(driver, "the sign-in form")
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
        # The configured source first, with its chart (an image with a text equivalent), then the disabled one.
        cards = driver.find_elements(By.CSS_SELECTOR, "section.card.source")
        assert [c.find_element(By.TAG_NAME, "h3").text.split()[0] for c in cards] == ["deploys"], \
            [c.text for c in cards]
        chart = cards[0].find_element(By.CSS_SELECTOR, "svg.chart")
        assert chart.get_attribute("role") == "img"
        assert "accepted" in driver.find_element(By.ID, "chart-source-0-desc").get_attribute("textContent")
        assert cards[0].find_elements(By.CSS_SELECTOR, "svg.chart rect.accepted")
        disabled = driver.find_element(By.CSS_SELECTOR, "p.disabled-list")
        assert "aaa-unset (set AAA_UNSET_WEBHOOK_SECRET)" in disabled.text, disabled.text
        assert cards[0].location["y"] < disabled.location["y"]
        assert driver.find_elements(By.CSS_SELECTOR, "svg[aria-labelledby^='chart-forwarder'] rect")
        check_accessibility(driver, "the overview")
        driver.save_screenshot(os.path.join(shots, "overview.png"))

        # From the list to the hostile delivery's page: shown as text, never run.
        driver.get(base + "/ui/deliveries")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.list a")
        assert len(rows) == 3, len(rows)
        check_accessibility(driver, "the deliveries")
        rows[0].click()
        WebDriverWait(driver, 10).until(EC.url_to_be(base + "/ui/deliveries/3"))
        no_alert(driver)
        body = driver.find_element(By.CSS_SELECTOR, "pre.body").text
        assert HOSTILE.replace('"', '\\"') in body, body
        assert not driver.find_elements(By.CSS_SELECTOR, "main img, main script")
        assert "X-Hub-Signature-256" in driver.page_source and "sha256=" not in driver.page_source
        check_accessibility(driver, "a delivery")
        driver.save_screenshot(os.path.join(shots, "delivery.png"))

        # Retry the dead letter: the fake now accepts it.
        driver.get(base + "/ui/dead-letters")
        assert "REFUSE-ME is not allowed here" in driver.page_source
        check_accessibility(driver, "the dead letters")
        driver.save_screenshot(os.path.join(shots, "dead-letters.png"))
        FakeCloudthread.accept_all = True
        driver.find_element(By.XPATH, "//button[text()='Retry']").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "outbox"))
        wait_for("the retried record to be sent",
                 lambda: (driver.get(base + "/ui/dead-letters") or True) and "No dead letters" in driver.page_source)

        driver.get(base + "/ui/rules")
        check_accessibility(driver, "the rule files")

        # The timeline: the events sent, one lane per type, over the Cost View's daily cost (one read, cached).
        driver.get(base + "/ui/timeline?range=30d")
        marks = driver.find_elements(By.CSS_SELECTOR, "svg.timeline circle.mark")
        assert len(marks) == 3, len(marks)
        assert driver.find_elements(By.CSS_SELECTOR, "svg.timeline polyline.cost-line")
        assert "checkout to production: success" in driver.find_element(By.CSS_SELECTOR, "ul.events").text
        assert driver.find_elements(By.CSS_SELECTOR, "a[href='https://ci.example.com/checkout']")
        desc = driver.find_element(By.ID, "timeline-desc").get_attribute("textContent")
        assert "3 events" in desc and "daily cost" in desc, desc
        check_accessibility(driver, "the timeline")
        driver.save_screenshot(os.path.join(shots, "timeline.png"))
        driver.get(base + "/ui/timeline?range=30d")
        assert FakeCloudthread.cost_reads == 1, FakeCloudthread.cost_reads

        # Try a payload: the matched rule and the request that would be sent; nothing stored.
        driver.get(base + "/ui/try")
        check_accessibility(driver, "the try form")
        Select(driver.find_element(By.ID, "try-source")).select_by_value("deploys")
        driver.find_element(By.ID, "try-headers").send_keys("X-GitHub-Event: deployment_status")
        driver.find_element(By.ID, "try-body").send_keys(json.dumps(
            {"service": "billing", "env": "production", "state": "success", "at": now}))
        driver.find_element(By.CSS_SELECTOR, "form.try button").click()
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "ul.matched"), "deploy"))
        report = driver.find_element(By.CSS_SELECTOR, "pre.report").text
        assert "rule deploy: MATCHED" in report and "POST /events" in report, report
        check_accessibility(driver, "a tried payload")
        driver.save_screenshot(os.path.join(shots, "try.png"))
        driver.get(base + "/ui/deliveries")
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.list a")) == 3

        # Phone width: the overview still fits.
        driver.set_window_size(390, 844)
        driver.get(base + "/ui/")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the overview is {width}px wide at phone width"
        check_accessibility(driver, "the overview at phone width")
        driver.save_screenshot(os.path.join(shots, "overview-phone.png"))
        driver.get(base + "/ui/timeline")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the timeline is {width}px wide at phone width"
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
