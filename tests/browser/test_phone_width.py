"""At phone width (390 px) the pages fit the screen: nothing scrolls sideways, and the
notification bell draws its icon (an inline SVG, not a glyph the phone may lack)."""

import pytest

from audits.services import Actor
from notifications.models import Kind, Notification
from projects import services
from projects.models import Membership, ProjectGate, SignOffRole
from tests.factories import UserFactory

from .test_launch_flow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

OVERFLOW = "[document.documentElement.scrollWidth, window.innerWidth]"
# The elements sticking out past the right edge, to name them when a page does not fit.
WIDE_ELEMENTS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''))"""
# Boxes that scroll sideways inside the page (a table's wrapper, say): on a phone the stacked tables
# must fit as well, not hide their overflow in a strip that scrolls on its own.
SCROLLING_BOXES = """() => [...document.querySelectorAll('body *')]
  .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + e.scrollWidth + '>' + e.clientWidth)"""
LONG_URL = "https://vault.example.com/very/long/path/to/the/evidence/of/this/gate/that/nobody/would/ever/shorten"


@pytest.fixture
def busy_project(project, owner, editor, signer):
    """The small project with what makes pages wide: long evidence links and notes, a long sign-off
    comment that went stale, an owner who signs for every role, and a history of those changes."""
    roles = list(SignOffRole.objects.filter(project=project))
    own = Membership.objects.get(project=project, user=owner)
    services.member_update(actor=Actor(owner), membership=own, role=own.role, signoff_roles=roles)
    gate = ProjectGate.objects.get(project=project, code="S1")
    services.gate_update(
        actor=Actor(owner),
        gate=gate,
        version=gate.version,
        status="partial",
        owner=editor,
        evidence_url=LONG_URL,
        evidence_note="Rotation documented in the runbook, reviewed by the security team last week",
    )
    product_owner = next(r for r in roles if r.name == "Product Owner")
    services.signoff_give(
        actor=Actor(signer),
        project=project,
        stage=project.current_stage,
        role=product_owner,
        decision="conditional_go",
        comment="Conditional on https://status.example.com/incidents/2031/rate-limiting-rollout-and-load-test-report",
    )
    gate = ProjectGate.objects.get(project=project, code="T1")
    services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    # A member whose name has no place to break: the members table holds a form per row.
    longname = UserFactory(
        username="maximilian.hohenzollern.sigmaringen.release",
        email="maximilian.hohenzollern.sigmaringen.release@launch-operations.example.com",
    )
    services.member_add(
        actor=Actor(owner), project=project, user=longname, role=Membership.Role.SIGNER, signoff_roles=roles
    )
    Notification.objects.create(user=owner, project=project, kind=Kind.GATE_REOPENED, title="S1 changed")
    return project


def test_pages_fit_a_phone(browser, live_server, busy_project, owner, screenshot):
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    log_in(page, base, owner.username)
    pages = [
        ("dashboard", "/", "Portfolio"),
        ("project", "/projects/apollo/", "Summary by category"),
        ("gate", "/projects/apollo/gates/S1/", "Edit evidence, owner and due date"),
        ("signoff", "/projects/apollo/sign-off/", "What you are signing"),
        ("members", "/projects/apollo/members/", "Add a member"),
        ("history", "/projects/apollo/history/", "Score over time"),
    ]
    too_wide = []
    for name, path, landmark in pages:
        page.goto(base + path)
        assert landmark in page.content(), f"{name}: not the expected page"
        scroll_width, inner_width = page.evaluate(OVERFLOW)
        # A phone widens its layout viewport to fit content wider than the screen (is_mobile), so
        # a page that does not fit shows as a window wider than 390 px as well as a wide document.
        if max(scroll_width, inner_width) > 390:
            wide = page.evaluate(WIDE_ELEMENTS.replace("window.innerWidth", "390"))
            too_wide.append(f"{name} scrolls sideways: {scroll_width}px wide in a {inner_width}px window ({wide})")
        if boxes := page.evaluate(SCROLLING_BOXES):
            too_wide.append(f"{name} has boxes that scroll sideways: {boxes}")
        screenshot(page, f"phone-{name}")
    assert not too_wide, "\n".join(too_wide)
    bell = page.get_by_test_id("notification-bell")
    icon = bell.locator("svg.bell__icon")
    assert icon.count() == 1
    box = icon.bounding_box()
    assert box is not None and box["width"] >= 12 and box["height"] >= 12
    assert "🔔" not in bell.inner_text()
    context.close()
