"""The API docs and the admin work on a machine without internet access."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_swagger_ui_loads_its_assets_from_this_server(client):
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
