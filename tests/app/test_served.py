"""The files served beside the pages (app/served.py): named by content, gzipped, kept for the browser's cache;
Streamlit's own front-end files from memory; connections that send at once."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app import served


class Client:
    """Ask ``app`` (by default the routes as the app's server mounts them) over httpx's ASGI transport: no port."""

    def __init__(self, app=None):
        self.transport = httpx.ASGITransport(app=app or Starlette(routes=served.ROUTES))

    def request(self, method: str, path: str, headers: dict | None = None) -> httpx.Response:
        async def fetch():
            async with httpx.AsyncClient(transport=self.transport, base_url="http://app") as client:
                return await client.request(method, path, headers=headers)
        return asyncio.run(fetch())

    def get(self, path: str, headers: dict | None = None) -> httpx.Response:
        return self.request("GET", path, headers)


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


async def _streamlit(request):
    return PlainTextResponse(f"streamlit answered {request.method} {request.url.path}")


STREAMLIT = Starlette(routes=[Route("/{path:path}", _streamlit, methods=["GET", "HEAD", "POST"])])


@pytest.fixture
def front_end(tmp_path):
    """A front-end folder as Streamlit's: index.html beside static/ (a script, a font)."""
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "static" / "media").mkdir()
    (tmp_path / "index.html").write_text("<html>the page</html>")
    (tmp_path / "static" / "js" / "index.abc123.js").write_text("export const a = 1;\n" * 400)
    (tmp_path / "static" / "media" / "font.woff2").write_bytes(b"wOF2 already packed")
    return tmp_path


def test_front_end_files_come_from_memory_gzipped_and_cached_for_good(front_end):
    client = Client(served.FrontEndFiles(STREAMLIT, folder=str(front_end), base=""))
    script = (front_end / "static" / "js" / "index.abc123.js").read_bytes()
    response = client.get("/static/js/index.abc123.js", headers={"Accept-Encoding": "gzip, deflate"})
    assert response.content == script and response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(script) / 10
    assert "javascript" in response.headers["content-type"] and "immutable" in response.headers["cache-control"]
    (front_end / "static" / "js" / "index.abc123.js").write_text("changed on disk")
    assert client.get("/static/js/index.abc123.js").content == script  # read once, then from memory
    font = client.get("/static/media/font.woff2", headers={"Accept-Encoding": "gzip"})
    assert font.content == b"wOF2 already packed" and "content-encoding" not in font.headers


def _raw_get(app, path: str) -> bytes:
    """The body ``app`` answers for a GET of ``path`` exactly as given (a client would tidy away its '..')."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("app", 80), "http_version": "1.1"}
    asyncio.run(app(scope, receive, send))
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_anything_else_goes_on_to_streamlit(front_end):
    app = served.FrontEndFiles(STREAMLIT, folder=str(front_end), base="")
    for path in ["/", "/index.html", "/static/js/missing.js", "/static/../index.html", "/static/js/../../index.html",
                 "/planner/static/js/index.abc123.js", "/_stcore/health"]:
        assert _raw_get(app, path) == f"streamlit answered GET {path}".encode(), path
    client = Client(app)
    assert client.request("POST", "/static/js/index.abc123.js").text.startswith("streamlit answered POST")
    assert client.request("HEAD", "/static/js/index.abc123.js").headers["content-type"].startswith("text/plain")


def test_front_end_files_under_a_base_path(front_end):
    client = Client(served.FrontEndFiles(STREAMLIT, folder=str(front_end), base="/planner/"))
    assert client.get("/planner/static/js/index.abc123.js").text.startswith("export const a")
    assert client.get("/static/js/index.abc123.js").text.startswith("streamlit answered")


def test_streamlit_s_own_first_page_scripts_are_served():
    from streamlit import file_util

    folder = Path(file_util.get_static_dir())
    scripts = re.findall(r'(?:src|href)="\./(static/js/[^"]+\.js)"', (folder / "index.html").read_text())
    assert len(scripts) > 10  # the entry script and the modules it preloads
    client = Client(served.FrontEndFiles(STREAMLIT, base=""))
    for script in scripts[:3]:
        response = client.get(f"/{script}", headers={"Accept-Encoding": "gzip"})
        assert response.headers.get("content-encoding") == "gzip" and response.content == (folder / script).read_bytes()


def _serve_on_own_socket(app) -> tuple[uvicorn.Server, int]:
    """Run ``app`` under uvicorn on a socket bound as Streamlit binds it (made by hand, not by asyncio)."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    return server, listening.getsockname()[1]


async def _no_delay_flag(scope, receive, send):
    """An app that answers whether its own connection sends at once."""
    connection = receive.__self__.transport.get_extra_info("socket")
    flag = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await PlainTextResponse(str(int(bool(flag))))(scope, receive, send)


def test_connections_send_at_once():
    for app, expected in ((_no_delay_flag, "0"), (served.NoDelay(_no_delay_flag), "1")):
        server, port = _serve_on_own_socket(app)
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/").text == expected  # 0: asyncio left Nagle on
        finally:
            server.should_exit = True
