"""Files the browser fetches beside a page: the map's neighbourhoods and boundary image, and
Streamlit's own front-end files.

A map sent inside the page costs every visit the whole of it over the page's connection
and through Streamlit's JSON5 parser (a full map is about 1.3 MB; the README's app section
has what that cost). Served here instead, under a name made
from its content, the browser fetches a map's data once, parses it with its own JSON
parser, and takes it from its cache on every later visit, since a name's content never
changes. The names are unguessable (a SHA-256 of the content), as Streamlit's own media
files are, and a name is not enough: a file is served only to a signed-in person
(`app.auth.principal_from_cookies`, from the same signed cookie the pages trust), and one that
holds every neighbourhood's figures of a city only to people who may read that city's homes
(`File.cities`). In local mode the one local programme manager gets every file.

`app/main.py` mounts ``ROUTES``. A page makes a `File` once (cached with what it draws) and
`serve`s it on every visit: the most recent ``KEEP`` files are kept.

Streamlit's front end (about sixty scripts before the first page, more as its elements
appear: 3.4 MB) leaves Streamlit as it is on disk, read again for every browser.
`FrontEndFiles` (mounted by `app/main.py`) answers those requests from memory, gzipped once
(1.4 MB): what a browser across a network waits for. Their names carry a hash of their
content, as ours do. `NoDelay` makes every connection send at once (with both, the first
page's scripts come several times sooner: figures in the README).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
import socket
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from retrofit.service import access

PREFIX = "served"  # the URL path under which the files are served, beside the pages
KEEP = 256  # files kept: more than the map caches hold (app/maps.py), so a cached map's files stay
TYPES = {"json": "application/json", "png": "image/png"}
PACKED = {".js", ".css", ".json", ".svg"}  # front-end files worth gzipping (woff2 fonts and images are packed)
LOOKUP_THREAD = "served-lookup"  # who asked for a file: looked up off the server's loop, in these threads


@dataclass(frozen=True)
class File:
    """A file to serve: its name, its bytes as served (text gzipped), its media type, and the cities
    whose homes a person must be allowed to read to get it (every neighbourhood's figures there)."""

    name: str
    data: bytes
    gzipped: bool
    media_type: str
    cities: tuple[str, ...] = ()

    @classmethod
    def packed(cls, name: str, content: bytes, gzipped: bool, media_type: str,
               cities: tuple[str, ...] = ()) -> File:
        """``content`` as served: gzipped once here when ``gzipped``."""
        return cls(name, gzip.compress(content, 6) if gzipped else content, gzipped, media_type, tuple(cities))

    def content(self) -> bytes:
        """The bytes as made, unpacked."""
        return gzip.decompress(self.data) if self.gzipped else self.data


def make_file(content: bytes, suffix: str, cities: tuple[str, ...] = ()) -> File:
    """``content`` named and packed for serving: JSON is gzipped (a map's polygons shrink about fourfold).

    ``cities``: those whose homes a person must be allowed to read to be given it.
    """
    if suffix not in TYPES:
        raise ValueError(f"cannot serve a .{suffix} file; known: {', '.join(TYPES)}")
    return File.packed(f"{hashlib.sha256(content).hexdigest()[:32]}.{suffix}", content, suffix == "json",
                       TYPES[suffix], cities)


_files: OrderedDict[str, File] = OrderedDict()  # by name, the most recently served last
_lock = threading.Lock()


def serve(file: File) -> str:
    """Keep ``file`` to be served; the URL (relative to the page) the browser fetches it from."""
    with _lock:
        _files[file.name] = file
        _files.move_to_end(file.name)
        while len(_files) > KEEP:
            _files.popitem(last=False)
    return f"{PREFIX}/{file.name}"


def _kept(name: str) -> File | None:
    with _lock:
        return _files.get(name)


def content(url: str) -> bytes | None:
    """The content served at ``url`` (as `serve` returned it), or None when no longer kept."""
    file = _kept(url.rsplit("/", 1)[-1])
    return None if file is None else file.content()


def _response(file: File, accept_encoding: str) -> Response:
    """``file`` cached for good (a name's content never changes), gzipped when the browser takes gzip."""
    data = file.data
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    if file.gzipped:
        if "gzip" in accept_encoding:
            headers["Content-Encoding"] = "gzip"
        else:
            data = file.content()
        headers["Vary"] = "Accept-Encoding"
    return Response(data, media_type=file.media_type, headers=headers)


_lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix=LOOKUP_THREAD)


def _requester(cookies: dict[str, str]):
    """Who sent the request (a Principal), or None when nobody is signed in."""
    from app import auth  # at the first request: it brings the pages' caches, which want Streamlit's runtime

    return auth.principal_from_cookies(cookies)


async def _file(request: Request) -> Response:
    principal = await asyncio.get_running_loop().run_in_executor(_lookups, _requester, dict(request.cookies))
    if principal is None:
        return Response("Sign in to the planner first.", status_code=401, media_type="text/plain")
    file = _kept(request.path_params["name"])
    if file is not None and not all(access.can(principal, "read_homes", city) for city in file.cities):
        file = None  # the same answer as for a name never served: nothing is learnt of it
    if file is None:
        return Response("Not found: the page that asked for this file has been replaced; reload the page.",
                        status_code=404, media_type="text/plain")
    return _response(file, request.headers.get("accept-encoding", ""))


# The browser asks relative to the page: under server.baseUrlPath when one is set (Streamlit mounts
# its pages there, but an app's own routes at the root), so any leading path is accepted.
ROUTES = [Route(f"/{PREFIX}/{{name}}", _file, methods=["GET"]),
          Route(f"/{{base:path}}/{PREFIX}/{{name}}", _file, methods=["GET"])]


class FrontEndFiles:
    """Middleware: Streamlit's hashed front-end files (``<base>/static/...``) from memory, gzipped once.

    Only files found in Streamlit's own static folder when the server starts are answered
    (a name is looked up, never joined to a path); anything else, index.html included (it
    must not be cached), goes on to Streamlit unchanged.
    """

    def __init__(self, app: ASGIApp, folder: str | None = None, base: str | None = None):
        from streamlit import config, file_util

        self.app = app
        self.folder = os.path.join(folder or file_util.get_static_dir(), "static")
        base = (config.get_option("server.baseUrlPath") if base is None else base).strip("/")
        self.prefix = f"/{base}/static/" if base else "/static/"
        self.names = {os.path.relpath(os.path.join(top, name), self.folder).replace(os.sep, "/")
                      for top, _, names in os.walk(self.folder) for name in names}
        self.files: dict[str, File] = {}

    def _read(self, name: str) -> File:
        with open(os.path.join(self.folder, name), "rb") as f:
            content = f.read()
        suffix = os.path.splitext(name)[1]
        media_type = "text/javascript" if suffix == ".js" else (
            mimetypes.guess_type(name)[0] or "application/octet-stream")
        return File.packed(name, content, suffix in PACKED, media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" and scope["method"] == "GET" else ""
        name = path[len(self.prefix):] if path.startswith(self.prefix) else None
        if name not in self.names:
            await self.app(scope, receive, send)
            return
        file = self.files.get(name)
        if file is None:  # read and packed once, off the server's loop
            file = self.files[name] = await asyncio.to_thread(self._read, name)
        accept = dict(scope["headers"]).get(b"accept-encoding", b"").decode("latin-1")
        await _response(file, accept)(scope, receive, send)


class NoDelay:
    """Middleware: every connection sends what it is given at once (TCP_NODELAY).

    Streamlit binds the server's socket itself, and asyncio turns Nagle's algorithm off only
    on connections of sockets it made: a response written in two parts (head, then body)
    waited for the browser's delayed acknowledgement (40 ms, Linux's delayed-ACK timer) on every
    reused connection. The connection is
    reached through the server's receive callable (uvicorn's); a server without one is left as it is.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        connection = transport.get_extra_info("socket") if transport is not None else None
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self.app(scope, receive, send)
