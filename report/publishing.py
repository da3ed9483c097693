"""Publishing a finished build into the site: the version's directory, the site's index, the logs of
a failed build (every write through :mod:`sitedir`: only what the tool made, never through a link)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import urllib.parse
from pathlib import Path

from markupsafe import Markup

import meta as M
import sitedir
from processes import signals_deferred
from sphinxrun import ANSI


def site_index(site: Path) -> dict[str, str]:
    """The texts of ``versions.json``, ``versions.js`` and ``index.html`` (leads to the newest version).

    Only the versions the build published are listed (:func:`sitedir.versions`: labels of safe
    characters); they are still URL-quoted in links, HTML-escaped in text and attributes, and
    JSON inside ``<script>`` is written by :func:`meta.script_json`."""
    labels = sitedir.versions(site)
    new = M.newest(labels)
    doc = {"versions": labels, "newest": new}

    def href(v: str) -> str:
        return urllib.parse.quote(v, safe="") + "/index.html"
    item = Markup('<li><a href="{}">{}</a>{}</li>')
    items = Markup("\n").join(item.format(href(v), v, " (newest)" if v == new else "") for v in reversed(labels))
    target = href(new) if new else ""
    refresh = Markup('<meta http-equiv="refresh" content="0; url={}">').format(target) if new else ""
    script = (Markup("<script>window.location.replace({});</script>").format(Markup(M.script_json(target)))
              if new else "")
    page = Markup("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<title>face-latent-geometry: versions of the article</title></head>
<body>{script}
<p>The newest version of the article is <a href="{target}">{new}</a>. All versions:</p>
<ul>
{items}
</ul></body></html>
""").format(refresh=refresh, script=script, target=target, new=new or "", items=items)
    return {"versions.json": json.dumps(doc, indent=2) + "\n",
            "versions.js": "window.FLG_SITE_VERSIONS = " + M.script_json(doc) + ";\n",
            "index.html": str(page)}


def write_site_index(site: Path) -> None:
    """Rewrite the site files of ``site`` (:func:`site_index`) under its lock, if they are the tool's."""
    with sitedir.lock(site):
        sitedir.check_site_files(site)
        sitedir.write_site_files(site, site_index(site))


def publish(work_html: Path, site: Path, label: str) -> None:
    """Rename the finished build into ``site/label`` and refresh the site index, under the site's lock
    (signals wait until it is done: the site never lacks a version it had)."""
    site.mkdir(parents=True, exist_ok=True)
    with signals_deferred(), sitedir.lock(site):
        sitedir.replace_version(site, work_html, label, lambda: site_index(site))


def save_log(site: Path, label: str, work: Path, error: str) -> Path | None:
    """Keep the logs of a failed build in ``<site>/.logs/<label>-<time>.log`` (the last
    :data:`sitedir.KEEP_LOGS` of the tool's); returns its path (None when it could not be kept)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = [f"{sitedir.LOG_HEAD}{label} failed: {error}\n"]
    files = sorted(work.glob("*.log")) + sorted(work.glob("*.warnings")) + sorted((work / "tmp").glob("*.log")) \
        + sorted((work / "latex").glob("*.log"))
    for f in files:
        with contextlib.suppress(OSError):
            text = ANSI.sub("", f.read_text(encoding="utf-8", errors="replace"))
            parts.append(f"\n===== {f.relative_to(work)}\n{text}")
    return sitedir.save_log(site, label, stamp, "".join(parts))
