"""One launch, end to end, in a real browser: log in, see the portfolio, open the project, change
a gate in place, watch the score and verdict move, sign off, and see the sign-off go stale when a
colleague reopens a gate."""

import re

import pytest

from projects.models import SignOff

# Serialized rollback: the seeded categories come back for the tests after this one, and the flush
# at the end does not recreate content types that a later serialized test restores itself.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "preflight-test-pw"


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def test_launch_flow(browser, live_server, project, owner, editor, screenshot):
    base = live_server.url
    errors = []
    first = browser.new_context(viewport={"width": 1280, "height": 900})
    page = first.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Log in and see the portfolio.
    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url
    screenshot(page, "01-login")
    log_in(page, base, owner.username)
    row = page.locator("#project-apollo")
    assert "NO-GO" in row.inner_text()
    screenshot(page, "02-dashboard")

    # Open the project.
    row.get_by_role("link", name="Apollo").click()
    page.wait_for_url(f"{base}/projects/apollo/")
    score = page.get_by_test_id("score")
    assert score.inner_text().startswith("0.0")
    assert "1 blocker gate open: T1" in page.get_by_test_id("reasons").inner_text()
    screenshot(page, "03-project")

    # Close T1 then T2 in place: no reload; the score, verdict, reasons and category row follow.
    page.evaluate("window.__notReloaded = true")
    summary = page.locator("#readiness-summary")
    assert "NO-GO" in summary.inner_text()
    for code, expected_score in (("T1", "40.0"), ("T2", "50.0")):
        row = page.locator(f"tr[data-code='{code}']")
        row.get_by_label(f"New status of {code}").select_option("closed")
        row.get_by_role("button", name="Save").click()
        page.locator(f"tr[data-code='{code}'] [data-testid='status']", has_text="Closed").wait_for()
        page.wait_for_function(
            f"document.querySelector('[data-testid=score]').textContent.startsWith('{expected_score}')"
        )
    assert page.evaluate("window.__notReloaded") is True
    assert "blocker gate open" not in page.get_by_test_id("reasons").inner_text()
    assert "CONDITIONAL GO" in summary.inner_text()
    assert page.locator("#category-technical td").nth(0).inner_text() == "2"  # closed in Technical
    screenshot(page, "04-gates-changed-in-place")

    # Sign off: the page shows what is signed, the signature asks for the password again.
    page.get_by_role("link", name="Sign-off", exact=True).click()
    page.wait_for_url(re.compile(r".*/sign-off/$"))
    assert "Open gates (4)" in page.content()
    screenshot(page, "05-signoff")
    page.get_by_label("Sign as").select_option(label="Product Owner")
    page.get_by_label("CONDITIONAL GO").check()
    page.get_by_label("Comment").fill("Secrets must move to the vault before GA.")
    page.get_by_role("button", name="Sign").click()
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
    screenshot(page, "06-reauthenticate")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    page.wait_for_url(f"{base}/projects/apollo/")
    signoffs = page.locator("#signoffs")
    assert re.search(r"Product Owner\s+Current", signoffs.inner_text())
    signoff = SignOff.objects.get()
    assert (signoff.user, signoff.decision) == (owner, "conditional_go")
    screenshot(page, "07-signed")

    # A colleague reopens T1 in their own session.
    second = browser.new_context(viewport={"width": 390, "height": 844})  # a phone-width screen
    other = second.new_page()
    log_in(other, base, editor.username)
    other.goto(f"{base}/projects/apollo/")
    t1 = other.locator("tr[data-code='T1']")
    t1.get_by_label("New status of T1").select_option("open")
    t1.get_by_role("button", name="Save").click()
    other.locator("tr[data-code='T1'] [data-testid='status']", has_text="Open").wait_for()
    screenshot(other, "08-colleague-reopens-on-a-phone")
    second.close()

    # The first page still shows T1 as closed: changing it now is refused, shows the current value,
    # and overwrites nothing.
    row = page.locator("tr[data-code='T1']")
    row.get_by_label("New status of T1").select_option("partial")
    row.get_by_role("button", name="Save").click()
    page.get_by_role("alert").filter(has_text="Someone else changed T1").wait_for()
    assert "Open" in page.locator("tr[data-code='T1'] [data-testid='status']").inner_text()
    screenshot(page, "09-conflict-shown-in-place")

    # The first sign-off is now stale, and says which gate changed.
    page.reload()
    text = page.locator("#signoffs").inner_text()
    assert re.search(r"Product Owner\s+Stale", text)
    assert "Changed since it was given: T1" in text
    screenshot(page, "10-signoff-stale")
    first.close()
    # No script error and no CSP violation; the one refused request is the conflict above.
    assert [e for e in errors if "status of 409" not in e] == [], errors
