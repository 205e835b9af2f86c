"""The API docs and the admin work on a machine without internet access (and, under the
Content-Security-Policy, could not load anything from elsewhere: default-src 'self')."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_swagger_ui_loads_its_assets_from_this_server(client, settings):
    # The page is served even when the document needs a token (API_DOCS_PUBLIC false).
    settings.API_DOCS_PUBLIC = False
    page = client.get("/api/docs/")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.content.decode())
    assert sources, "the page names its scripts"
    for source in sources:
        assert source.startswith("/static/"), f"{source} would need the internet"
        asset = client.get(source)
        assert asset.status_code == 200, source


def test_admin_stylesheet_is_served_without_collectstatic(client):
    assert client.get("/static/admin/css/base.css").status_code == 200
