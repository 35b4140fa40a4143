"""At phone width (390 px) the pages fit the screen: nothing scrolls sideways, and the
notification bell draws its icon (an inline SVG, not a glyph the phone may lack)."""

import pytest

from audits.services import Actor
from notifications.models import Kind, Notification
from projects import services
from projects.models import ProjectGate

from .test_launch_flow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

OVERFLOW = "[document.documentElement.scrollWidth, window.innerWidth]"


def test_dashboard_and_project_page_fit_a_phone(browser, live_server, project, owner, editor, screenshot):
    gate = ProjectGate.objects.get(project=project, code="S1")
    services.gate_update(
        actor=Actor(owner),
        gate=gate,
        version=gate.version,
        status="partial",
        owner=editor,
        evidence_url="https://vault.example.com/very/long/path/to/the/evidence/of/this/gate",
        evidence_note="Rotation documented in the runbook, reviewed by the security team last week",
    )
    Notification.objects.create(user=owner, project=project, kind=Kind.GATE_REOPENED, title="S1 changed")
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    log_in(page, base, owner.username)
    for name, path in [("dashboard", "/"), ("project", "/projects/apollo/")]:
        page.goto(base + path)
        scroll_width, inner_width = page.evaluate(OVERFLOW)
        assert inner_width == 390
        assert scroll_width <= inner_width, f"{name} scrolls sideways: {scroll_width}px wide at {inner_width}px"
        screenshot(page, f"phone-{name}")
    bell = page.get_by_test_id("notification-bell")
    icon = bell.locator("svg.bell__icon")
    assert icon.count() == 1
    box = icon.bounding_box()
    assert box is not None and box["width"] >= 12 and box["height"] >= 12
    assert "🔔" not in bell.inner_text()
    context.close()
