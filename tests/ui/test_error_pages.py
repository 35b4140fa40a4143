"""Error pages speak the site's language and keep its layout."""

import pytest
from django.test import override_settings
from django.urls import include, path, reverse

pytestmark = pytest.mark.django_db


def test_404_page_in_site_style(login, project, settings):
    settings.DEBUG = False
    response = login("outsider").get(reverse("projects:detail", args=[project.slug]))
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert 'class="site-header"' in body


def test_403_page_says_why(login, project, settings):
    settings.DEBUG = False
    response = login("viewer").post(
        reverse("projects:gate_status", args=[project.slug, "T1"]), {"status": "closed", "version": 1}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "You may view this project but not change it." in body
    assert 'class="site-header"' in body


def test_500_page_renders_without_a_request_context():
    from django.template import loader

    body = loader.get_template("500.html").render({})
    assert "Something went wrong" in body
    assert 'class="site-header"' in body


def _view_that_breaks(request):
    raise RuntimeError("a bug in a view")


# A test-only URL configuration: the site's URLs plus one view that raises.
urlpatterns = [
    path("broken/", _view_that_breaks),
    path("", include("portal.urls")),
]


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_a_view_that_raises_gets_the_sites_500_page(login, project):
    client = login("viewer")
    client.raise_request_exception = False
    response = client.get("/broken/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert 'class="site-header"' in body
    assert "RuntimeError" not in body and "a bug in a view" not in body
