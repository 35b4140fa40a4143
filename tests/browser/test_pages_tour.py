"""Every page in a real browser: no script error or CSP violation, a screenshot of each, and the
in-place status change done with the keyboard alone."""

import pytest

from audits.services import Actor
from projects import services
from projects.models import ProjectGate

from .test_launch_flow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_every_page_renders_cleanly(browser, live_server, project, owner, editor, screenshot):
    gate = ProjectGate.objects.get(project=project, code="S1")
    services.gate_update(
        actor=Actor(owner), gate=gate, version=gate.version, status="partial", owner=editor, evidence_note="vault"
    )
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    log_in(page, base, owner.username)
    for name, path, heading in [
        ("gate", "/projects/apollo/gates/S1/", "S1 Secrets in vault"),
        ("history", "/projects/apollo/history/", "History of Apollo"),
        ("members", "/projects/apollo/members/", "Members of Apollo"),
        ("new-project", "/projects/new/", "New project"),
        ("two-factor", "/accounts/2fa/", "Two-Factor Authentication"),
        ("not-found", "/projects/no-such-project/", "Page not found"),
    ]:
        page.goto(base + path)
        assert page.get_by_role("heading", level=1).inner_text().strip() == heading
        screenshot(page, f"tour-{name}")
    assert page.locator("svg.chart").count() == 0  # the 404 page has no chart
    page.goto(base + "/projects/apollo/history/")
    assert page.locator("svg.chart polyline").count() == 1
    context.close()
    assert errors == [] or all("404" in e for e in errors), errors


def test_status_change_with_the_keyboard_alone(browser, live_server, project, editor, screenshot):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, base, editor.username)
    page.goto(base + "/projects/apollo/")
    # The first Tab lands on the skip link, which jumps to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # Tab until the status menu of T1 has the focus, choose Closed with the keyboard, then Save.
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == page.locator("tr[data-code='T1'] select").get_attribute("id"):
            break
    else:
        pytest.fail("the status menu of T1 is not reachable with Tab")
    page.keyboard.press("End")  # the last choice of the menu: N/A
    page.keyboard.press("ArrowUp")  # Closed
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Save"
    page.keyboard.press("Enter")
    page.locator("tr[data-code='T1'] [data-testid='status']", has_text="Closed").wait_for()
    page.wait_for_function("document.querySelector('[data-testid=score]').textContent.startsWith('40.0')")
    # The focus comes back to the Save button of the swapped row, so the keyboard user stays in place.
    assert page.evaluate("document.activeElement.id") == page.locator("tr[data-code='T1'] button").get_attribute("id")
    screenshot(page, "keyboard-status-change")
    context.close()
