"""The files served beside the pages (app/served.py): named by content, gzipped, kept for the browser's cache."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx
import pytest
from starlette.applications import Starlette

from app import served


class Client:
    """GET from the routes as the app's server mounts them (httpx over ASGI: no port, no thread)."""

    def __init__(self):
        self.transport = httpx.ASGITransport(app=Starlette(routes=served.ROUTES))

    def get(self, path: str, headers: dict | None = None) -> httpx.Response:
        async def fetch():
            async with httpx.AsyncClient(transport=self.transport, base_url="http://app") as client:
                return await client.get(path, headers=headers)
        return asyncio.run(fetch())


@pytest.fixture
def client():
    return Client()


def test_a_served_file_is_fetched_gzipped_and_cached_for_good(client):
    polygons = json.dumps({"type": "FeatureCollection", "features": [{"id": i} for i in range(500)]}).encode()
    url = served.serve(served.make_file(polygons, "json"))
    assert url.startswith(f"{served.PREFIX}/") and url.endswith(".json")
    response = client.get(f"/{url}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["content-encoding"] == "gzip" and "immutable" in response.headers["cache-control"]
    assert response.content == polygons  # the client unpacks it, as a browser does
    assert int(response.headers["content-length"]) < len(polygons) / 4
    assert served.content(url) == polygons
    assert client.get(f"/planner/{url}").content == polygons  # a page under server.baseUrlPath asks there


def test_the_name_follows_the_content(client):
    first = served.serve(served.make_file(b'{"a": 1}', "json"))
    assert served.serve(served.make_file(b'{"a": 1}', "json")) == first
    assert served.serve(served.make_file(b'{"a": 2}', "json")) != first


def test_a_client_without_gzip_gets_plain_json_and_a_png_goes_as_it_is(client):
    url = served.serve(served.make_file(b'{"plain": true}', "json"))
    response = client.get(f"/{url}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers and response.json() == {"plain": True}
    image = b"\x89PNG\r\n\x1a\n not really an image"
    response = client.get("/" + served.serve(served.make_file(image, "png")))
    assert response.headers["content-type"] == "image/png" and response.content == image


def test_an_unknown_or_dropped_file_says_to_reload(client):
    first = served.serve(served.make_file(b'{"first": true}', "json"))
    for number in range(served.KEEP):
        served.serve(served.make_file(json.dumps({"n": number}).encode(), "json"))
    response = client.get(f"/{first}")
    assert response.status_code == 404 and "reload the page" in response.text
    assert served.content(first) is None
    assert client.get(f"/{served.PREFIX}/nothing.json").status_code == 404


def test_only_known_kinds_are_served():
    with pytest.raises(ValueError, match=r"cannot serve a \.html file"):
        served.make_file(b"<script></script>", "html")
    assert gzip.decompress(served.make_file(b"{}", "json").data) == b"{}"
