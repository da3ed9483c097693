"""Serve the published site on this machine only: ``make report-serve``.

Usage::

    python report/serve.py [--site _site] [--port 8000] [--bind 127.0.0.1]

It listens on the loopback address (127.0.0.1: other machines cannot connect) and serves
only what the site publishes: the site's ``index.html``, ``versions.js`` and
``versions.json`` and the files of each published version (:func:`sitedir.versions`).
Everything else is "404 Not Found": hidden files and directories (``.logs/``, ``.lock``,
``.build.json``, temporary build directories), anything outside a published version, any
path that leaves the site through a symbolic link, and directory listings (a directory is
served as its ``index.html`` or not at all). The site also works from ``file://`` without it.
"""

from __future__ import annotations

import argparse
import http.server
import os
import posixpath
import sys
import urllib.parse
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sitedir  # noqa: E402

SITE_FILES = frozenset(sitedir.SITE_FILES)


def published_file(site: Path, url_path: str) -> Path | None:
    """The file of the published site that ``url_path`` names, or None (see the module docstring)."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path, errors="strict")
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    if "\0" in path or any(p.startswith(".") for p in parts):
        return None
    if not parts or path.endswith("/"):
        parts = [*parts, "index.html"]
    if len(parts) == 1 and parts[0] not in SITE_FILES:
        parts = [parts[0], "index.html"]  # /0.1.0 -> /0.1.0/index.html
    if len(parts) > 1 and parts[0] not in sitedir.versions(site):
        return None
    target = site.joinpath(*parts)
    root = os.path.realpath(site)
    real = os.path.realpath(target)
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        return None  # outside the site (a link), a directory, or missing
    return target


class Handler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that serves only :func:`published_file` and lists no directory."""

    def __init__(self, *args, site: Path, **kw):
        self.site = site
        super().__init__(*args, directory=str(site), **kw)

    def send_head(self):
        try:
            target = published_file(self.site, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self.send_error(404, "Not Found")
            return None
        self.path = "/" + target.relative_to(self.site).as_posix()
        return super().send_head()

    def list_directory(self, path):  # never reached (send_head serves files only); kept closed
        self.send_error(404, "Not Found")
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--site", type=Path, default=HERE.parent / "_site", help="the site directory (default: _site)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    a = p.parse_args(argv)
    site = a.site.resolve()
    if not site.is_dir():
        print(f"report-serve: error: {site} does not exist -- build the article first (make report)", file=sys.stderr)
        return 2
    try:
        server = http.server.ThreadingHTTPServer((a.bind, a.port), partial(Handler, site=site))
    except OSError as e:
        print(f"report-serve: error: cannot listen on {a.bind}:{a.port} ({e.strerror}) -- choose another port "
              "(make report-serve PORT=8001)", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"serving {site} on http://{host}:{port}/ (this machine only; Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
