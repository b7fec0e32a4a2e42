"""Files the browser fetches beside a page: the map's neighbourhoods and boundary image.

A map sent inside the page costs every visit the whole of it over the page's connection
and through Streamlit's JSON5 parser (a full map is about 1.3 MB; parsing it alone took
0.16 s of a 1.5 s Map page in headless Chromium). Served here instead, under a name made
from its content, the browser fetches a map's data once, parses it with its own JSON
parser, and takes it from its cache on every later visit, since a name's content never
changes. The names are unguessable (a SHA-256 of the content), as Streamlit's own media
files are: only a page that was allowed to draw a map hands its name to the browser.

`app/main.py` mounts ``ROUTES``. A page makes a `File` once (cached with what it draws) and
`serve`s it on every visit: the most recent ``KEEP`` files are kept.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PREFIX = "served"  # the URL path under which the files are served, beside the pages
KEEP = 256  # files kept: more than the map caches hold (app/maps.py), so a cached map's files stay
TYPES = {"json": "application/json", "png": "image/png"}


@dataclass(frozen=True)
class File:
    """A file to serve: its name (from its content) and its bytes as served (JSON gzipped)."""

    name: str
    data: bytes
    gzipped: bool

    def content(self) -> bytes:
        """The bytes as made, unpacked."""
        return gzip.decompress(self.data) if self.gzipped else self.data


def make_file(content: bytes, suffix: str) -> File:
    """``content`` named and packed for serving: JSON is gzipped (a map's polygons shrink about fourfold)."""
    if suffix not in TYPES:
        raise ValueError(f"cannot serve a .{suffix} file; known: {', '.join(TYPES)}")
    gzipped = suffix == "json"
    return File(f"{hashlib.sha256(content).hexdigest()[:32]}.{suffix}",
                gzip.compress(content, 6) if gzipped else content, gzipped)


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


async def _file(request: Request) -> Response:
    name = request.path_params["name"]
    file = _kept(name)
    if file is None:
        return Response("Not found: the page that asked for this file has been replaced; reload the page.",
                        status_code=404, media_type="text/plain")
    data = file.data
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}  # a name's content never changes
    if file.gzipped:
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
        else:
            data = file.content()
        headers["Vary"] = "Accept-Encoding"
    return Response(data, media_type=TYPES[name.rsplit(".", 1)[-1]], headers=headers)


# The browser asks relative to the page: under server.baseUrlPath when one is set (Streamlit mounts
# its pages there, but an app's own routes at the root), so any leading path is accepted.
ROUTES = [Route(f"/{PREFIX}/{{name}}", _file, methods=["GET"]),
          Route(f"/{{base:path}}/{PREFIX}/{{name}}", _file, methods=["GET"])]
