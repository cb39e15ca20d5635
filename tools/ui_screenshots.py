"""Screenshots of the Airflow UI in headless Chromium, driven through WebDriver (Selenium).

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``/usr/bin/chromium``,
``/usr/bin/chromedriver``): Selenium's own browser download does not work offline. The browser
starts with the flags this machine's closed network needs (no background networking).

``take(base_url, out_dir, run_id, user, password)`` signs in on the simple auth manager's login
page, then saves six pages and returns each page's visible text, so a test can check what the
data team would see: the billing DAG, its documentation (the *Dag Docs* dialog, i.e.
``doc_md``), a run with its mapped client tasks, the objection DAG, and the objection DAG's
trigger form, filled in as staff would type it. It also returns each form as its user finds it
(:class:`Form`: which element each field is, which are marked required, whether the button can be
clicked), before and after typing; with ``submit`` it clicks *Trigger*.
``take_approval`` saves finance's waiting approval the same way.

Times are shown in Asia/Dhaka: Airflow 3.3 has no setting for the UI's timezone (the UI starts
with the browser's and keeps a user's choice from its timezone selector in the browser's
localStorage, key ``timezone``), so the browser gets that choice, as a user who picked
Asia/Dhaka would have it.

``python -m tools.ui_screenshots --url http://127.0.0.1:8080 --run-id RUN --out docs/screenshots``
refreshes the README's screenshots from a running ``make service``, signed in as ``datateam``
with the password from ``make service``'s passwords file; with ``--approval`` (RUN's approval
waiting for an answer) it saves ``approval.png`` instead, signed in as ``finance``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tools.airflow_service import API_USER, PASSWORDS_ENV, PROJECT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1440,1000",
)
UI_TIMEZONE = "Asia/Dhaka"
BILLING_DAG = "dms_monthly_billing"
OBJECTION_DAG = "dms_record_objection"
APPROVER = "finance"  # make service's user who answers approvals (approval.respondents)
TIMEOUT = 30
STALE_READS = 10  # a React re-render replaces elements between finding and reading them
# What staff type into the objection form for the README's picture (MEGHNA users billed in the demo's May;
# the form is not submitted).
EXAMPLE_OBJECTION = {
    "client_code": "MEGHNA", "billing_month": "2023-05", "user_ids": "103\n256\n412",
    "reason": "Duplicate accounts of one salesperson", "decided_by": "finance@sokrio.example",
}
# Each param's field (the React form's ``element_<param>``): its tag, and whether its label carries
# the required mark (Chakra's ``data-required``, which Airflow sets unless the param's type admits null).
_FIELDS_JS = """
return Array.from(document.querySelectorAll("[id^='element_']")).map(element => {
  const field = element.closest("[data-scope='field'][data-part='root']");
  return [element.id.slice("element_".length), element.tagName.toLowerCase(),
          Boolean(field && field.querySelector("label[data-required]"))];
});
"""


@dataclass(frozen=True)
class Form:
    """A form as its user finds it: each field's element (``input``, ``textarea``; a list box is a
    ``div``), the fields marked required, and whether its button (Trigger, Approve) can be clicked."""

    fields: dict[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    button_enabled: bool = False


@dataclass
class Pages:
    """What ``take`` saw: each saved page's visible text, and the forms (by name) as they were."""

    texts: dict[str, str] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)


def missing() -> str | None:
    """Why screenshots cannot be taken here (None when they can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(path):
            return f"{path} not found (apt-get install {package})"
    return None


@contextmanager
def browser() -> Iterator:
    """A headless Chromium session; always quit, so no browser process outlives it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def _sign_in(driver, wait, base_url: str, user: str, password: str) -> None:
    """Sign in on the simple auth manager's login page, then choose Dhaka time as a user would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen

    driver.get(base_url.rstrip("/") + "/auth/login")
    wait.until(seen.element_to_be_clickable((By.NAME, "username"))).send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait.until(lambda _: "/auth/login" not in driver.current_url)
    # what the UI's timezone selector stores (JSON): the pages opened next read it as they load
    driver.execute_script("localStorage.setItem('timezone', JSON.stringify(arguments[0]))", UI_TIMEZONE)


def _buttons(driver, scope: str, label: str) -> list:
    """The buttons inside ``scope`` (a CSS selector) that read ``label``."""
    from selenium.webdriver.common.by import By

    return [b for b in driver.find_elements(By.CSS_SELECTOR, f"{scope} button") if b.text.strip() == label]


def _form(driver, scope: str, button: str) -> Form:
    """The form's fields as shown, and whether its ``button`` (inside ``scope``) is enabled."""
    rows = driver.execute_script(_FIELDS_JS)
    buttons = _buttons(driver, scope, button)
    return Form({name: tag for name, tag, _ in rows}, frozenset(name for name, _, marked in rows if marked),
                bool(buttons) and all(b.is_enabled() for b in buttons))


def _type_into(driver, values: Mapping[str, str]) -> None:
    """Type each value into its param's field as a user would (a newline is Enter, in a textarea)."""
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        driver.find_element(By.ID, f"element_{name}").send_keys(value)


def take_approval(base_url: str, out_dir: Path, run_id: str, user: str, password: str,
                  ready: str = "Approve the invoices") -> Pages:
    """Sign in as ``user`` (finance) and save ``approval.png``: the run's waiting approval under
    Required actions, once ``ready`` (e.g. a client code of its body) and the form show; return the
    page's text and its form (``approval``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    with browser() as driver:
        wait = WebDriverWait(driver, TIMEOUT)
        _sign_in(driver, wait, base_url, user, password)
        driver.get(f"{base_url.rstrip('/')}/dags/{BILLING_DAG}/runs/{run_id}/tasks/approve_invoices/required_actions")
        wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "body"), ready))
        wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "[id^='element_']")))
        driver.save_screenshot(str(out_dir / "approval.png"))
        return Pages({"approval": driver.find_element(By.TAG_NAME, "body").text},
                     {"approval": _form(driver, "body", "Approve")})


def take(base_url: str, out_dir: Path, run_id: str, user: str, password: str,
         objection: Mapping[str, str] = EXAMPLE_OBJECTION, submit: bool = False) -> Pages:
    """Sign in as ``user``, save ``{name}.png`` under ``out_dir`` for each page; return each page's
    text and the objection form as opened (``objection_trigger_form``) and once ``objection`` is
    typed in (``objection_trigger_form_filled``, the picture); ``submit`` then clicks Trigger."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    pages = Pages()
    with browser() as driver:
        wait = WebDriverWait(driver, TIMEOUT)

        def show(path: str, ready: str) -> None:
            """Open ``path`` and wait until ``ready`` is visible on the page."""
            driver.get(base_url.rstrip("/") + path)
            wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "body"), ready))

        def click(label: str) -> None:
            wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, f"button[aria-label='{label}']"))).click()

        def dialog_text() -> str:
            """The open dialogs' text (Chakra keeps an empty positioner dialog beside the content),
            read again when React replaced a dialog between finding it and reading it."""
            for _ in range(STALE_READS):
                try:
                    return "\n".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "[role='dialog']"))
                except StaleElementReferenceException:
                    time.sleep(0.2)
            raise AssertionError(f"the dialogs kept being replaced over {STALE_READS} reads")

        def dialog_showing(text: str) -> None:
            wait.until(lambda _: text in dialog_text())

        def save(name: str, dialog: bool = False) -> None:
            driver.save_screenshot(str(out_dir / f"{name}.png"))
            pages.texts[name] = dialog_text() if dialog else driver.find_element(By.TAG_NAME, "body").text

        _sign_in(driver, wait, base_url, user, password)
        show(f"/dags/{BILLING_DAG}", BILLING_DAG)
        wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "body"), "Latest Run"))
        save("dag")
        click("Dag Docs")
        dialog_showing("Sokrio DMS monthly billing")
        save("dag_docs", dialog=True)

        show(f"/dags/{BILLING_DAG}/runs/{run_id}", "bill_batch")
        save("run")
        show(f"/dags/{BILLING_DAG}/runs/{run_id}/tasks/group/bill_batch", "issue_and_deliver_invoices")
        save("task_instances")  # the run's client tasks, each labelled with its client code

        show(f"/dags/{OBJECTION_DAG}", OBJECTION_DAG)
        save("objection_dag")
        click("Trigger Dag")
        dialog_showing("Client code")
        pages.forms["objection_trigger_form"] = _form(driver, "[role='dialog']", "Trigger")
        _type_into(driver, objection)
        pages.forms["objection_trigger_form_filled"] = _form(driver, "[role='dialog']", "Trigger")
        # typing scrolled the dialog down to the last field typed in: back to the first, as it opens
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})",
                              f"element_{next(iter(objection))}")
        save("objection_trigger_form", dialog=True)
        if submit:
            _buttons(driver, "[role='dialog']", "Trigger")[0].click()
            wait.until(lambda _: "Client code" not in dialog_text())
    return pages


@dataclass
class BillingPages:
    """What ``take_billing`` saw: each page's text inside the Billing view, each shown row's
    client code and states, and the session's cookies (to download what a link points at)."""

    texts: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # page -> client code -> states
    links: dict[str, str] = field(default_factory=dict)  # the first page's file links, by their path
    cookies: dict[str, str] = field(default_factory=dict)


_ROWS_JS = """
return Array.from(document.querySelectorAll("#clients tbody tr[data-client]"))
  .map(row => [row.dataset.client, row.dataset.states]);
"""
_LINKS_JS = "return Array.from(document.querySelectorAll('#clients a')).map(a => a.href);"


def take_billing(base_url: str, out_dir: Path, run_id: str, user: str, password: str, month: str,
                 states: tuple[str, ...] = ("held", "failed")) -> BillingPages:
    """Sign in as ``user`` and save the Billing page (``billing.png``: the navigation's entry, at
    ``month``), the page filtered by each of ``states`` (``billing_<state>.png``, chosen in its
    form as a user would) and the run's Billing tab (``billing_run.png``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import Select, WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    seen_pages = BillingPages()
    with browser() as driver:
        wait = WebDriverWait(driver, TIMEOUT)
        _sign_in(driver, wait, base_url, user, password)

        def inside_view(page: str, name: str) -> None:
            driver.get(f"{base_url.rstrip('/')}/{page}")
            driver.switch_to.default_content()
            wait.until(seen.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
            wait.until(seen.presence_of_element_located((By.ID, "clients")))
            keep(name)

        def keep(name: str) -> None:
            seen_pages.texts[name] = driver.find_element(By.TAG_NAME, "body").text
            seen_pages.rows[name] = dict(driver.execute_script(_ROWS_JS))
            driver.switch_to.default_content()
            driver.save_screenshot(str(out_dir / f"{name}.png"))
            driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))

        inside_view("plugin/billing", "billing_latest")
        month_field = driver.find_element(By.NAME, "month")  # the month picker, as finance uses it
        driver.execute_script("arguments[0].value = arguments[1]", month_field, month)
        driver.find_element(By.CSS_SELECTOR, "form.pick button[type='submit']").click()
        wait.until(lambda _: f"month={month}" in driver.execute_script("return location.search"))
        keep("billing")
        seen_pages.links = {href.split("/billing/", 1)[1]: href for href in driver.execute_script(_LINKS_JS)
                            if "/billing/files/" in href}
        for state in states:
            Select(driver.find_element(By.NAME, "state")).select_by_value(state)
            driver.find_element(By.CSS_SELECTOR, "form.pick button[type='submit']").click()
            wait.until(lambda _, s=state: f"state={s}" in driver.execute_script("return location.search"))
            keep(f"billing_{state.replace(' ', '_')}")
        inside_view(f"dags/{BILLING_DAG}/runs/{run_id}/plugin/billing-run", "billing_run")
        seen_pages.cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    return seen_pages


def service_passwords_file() -> Path:
    """The passwords file ``make service`` uses: ``$AIRFLOW_SERVICE_PASSWORDS_FILE`` or its own."""
    if given := os.environ.get(PASSWORDS_ENV):
        return Path(given)
    return Path(os.environ.get("DMS_BILLING_DATA", PROJECT / "data")) / "airflow-service" / "passwords.json"


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshots of a running Airflow UI (make service).")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--run-id", required=True, help=f"a run of {BILLING_DAG} to show")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--approval", action="store_true",
                        help="save approval.png only: the run's approval, waiting for an answer")
    parser.add_argument("--user", help=f"who signs in (default: {API_USER}; with --approval, {APPROVER})")
    parser.add_argument("--passwords-file", type=Path, default=service_passwords_file(),
                        help=f"default: ${PASSWORDS_ENV}, else make service's own")
    args = parser.parse_args()
    if reason := missing():
        raise SystemExit(reason)
    user = args.user or (APPROVER if args.approval else API_USER)
    password = json.loads(args.passwords_file.read_text(encoding="utf-8"))[user]
    if args.approval:
        pages = take_approval(args.url, args.out, args.run_id, user, password)
    else:
        pages = take(args.url, args.out, args.run_id, user, password)
    for name in pages.texts:
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
