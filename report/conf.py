"""Sphinx configuration of the article (HTML site and PDF).

Not meant to be run by hand: ``report/build.py`` (``make report``) sets ``FLG_META``
(version, date, commit, title, ...; see ``report/meta.py``), ``FLG_RUN`` (the run
directory the chapters read) and ``FLG_STATIC`` (directories holding the Vega bundle and
the live decoder's weights, ``flg-decoder-weights.js``).

The title, authors, run name and data label are the user's strings. The HTML theme's
templates print some of them (``docstitle``, ``author``) without escaping, so
:func:`setup` hands every such page-context value over as escaped
:class:`markupsafe.Markup` (which Jinja's ``|e`` leaves as it is); our own templates
use ``|e`` on every value. The LaTeX gets them through Sphinx's own escaping
(:func:`sphinx.util.texescape.escape`); Markdown substitutions through
:func:`meta.md_escape`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from markupsafe import Markup
from sphinx.util import texescape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import meta as _meta  # noqa: E402

FLG = _meta.meta_from_env()
os.environ.setdefault("FLG_RUN", FLG["run"])
VERSIONS = json.loads(os.environ.get("FLG_VERSIONS", "[]")) or [FLG["label"]]

_title = _meta.one_line(FLG["title"])
_authors = ", ".join(_meta.one_line(a) for a in FLG["authors"])
project = _title
author = _authors
copyright = f"{FLG['year']}, {_authors}"
version = FLG["label"]
release = FLG["label"]
today = FLG["date"]

extensions = ["myst_nb"]
templates_path = ["_templates"]
exclude_patterns = ["_build", "jupyter_execute", "README.md", "**/.ipynb_checkpoints", "**/__pycache__"]
root_doc = "index"
numfig = True
numfig_format = {"figure": "Figure %s", "table": "Table %s"}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
# The chapter on the runs side by side exists only in builds of several runs ([runs]); with
# one run the index's toctree skips it (and says so in no warning).
RUNS_CHAPTER = "07-robustness"
if not FLG.get("several_runs"):
    exclude_patterns.append(f"{RUNS_CHAPTER}.*")  # (Sphinx looks for an excluded name with its first suffix)
    suppress_warnings.append("toc.excluded")

# --- MyST-NB: chapters are executed on every build (no cache, so no stale outputs);
# an error in any cell stops the build (report/build.py names the chapter and cell).
myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = int(os.environ.get("FLG_CELL_TIMEOUT", "600"))
nb_remove_code_source = True
nb_output_stderr = "remove"
nb_merge_streams = True
nb_render_markdown_format = "myst"
# (substitutions are parsed as Markdown: the values are escaped to stay literal text)
myst_substitutions = {k: _meta.md_escape(v) for k, v in {
    "version": FLG["label"],
    "build_date": FLG["date"],
    "commit": FLG["commit"],
    "pdf": FLG["pdf"],
    "data": FLG["data"],
}.items()}

# --- HTML
html_theme = "sphinx_book_theme"
html_title = _title
html_short_title = "Latent geometry"
# FLG_STATIC: directories (os.pathsep-separated) with the Vega bundle and the run's decoder weights
html_static_path = ["_static"] + [d for d in os.environ.get("FLG_STATIC", "").split(os.pathsep) if d]
html_css_files = ["flg.css"]
html_js_files = ["vega-bundle.js", "flg-charts.js", "flg-versions.js", "flg-decoder.js", "flg-layout.js"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_extra_path = [os.environ["FLG_EXTRA"]] if os.environ.get("FLG_EXTRA") else []
html_sidebars = {"**": ["navbar-logo.html", "flg-version.html", "search-button-field.html", "sbt-sidebar-nav.html"]}
stamp = (f"Version {FLG['label']} · built {FLG['date']} · commit {_meta.commit_text(FLG)}"
         f" · data: {FLG['data']} (run {FLG['run_name']})")
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "extra_footer": Markup('<p class="flg-footer-stamp">{}</p>').format(stamp),
    "navigation_with_keys": False,
}
html_context = {
    "default_mode": "light",
    "flg": FLG,
    "flg_stamp": stamp,
    "flg_versions_json": json.dumps(VERSIONS),
    "flg_commit_text": _meta.commit_text(FLG),
}

# --- LaTeX / PDF
latex_engine = "pdflatex"
texescape.init()  # Sphinx's LaTeX builder does this too; the tables are empty before


def _tex(s: str) -> str:
    """A user string as LaTeX text, on one line (Sphinx's escaping for our engine)."""
    return texescape.escape(_meta.one_line(s), latex_engine)


_UNICODE = {
    "2248": r"\ensuremath{\approx}", "221A": r"\ensuremath{\surd}", "2264": r"\ensuremath{\leq}",
    "2265": r"\ensuremath{\geq}", "2212": r"\ensuremath{-}", "03C3": r"\ensuremath{\sigma}",
    "2192": r"\ensuremath{\rightarrow}", "2016": r"\ensuremath{\|}", "2208": r"\ensuremath{\in}",
    "221E": r"\ensuremath{\infty}", "2260": r"\ensuremath{\neq}", "2211": r"\ensuremath{\sum}",
    "2225": r"\ensuremath{\|}", "2082": r"\ensuremath{_2}", "2081": r"\ensuremath{_1}",
    "2080": r"\ensuremath{_0}", "2083": r"\ensuremath{_3}", "1D62": r"\ensuremath{_i}", "2C7C": r"\ensuremath{_j}",
    "2009": r"\,", "202F": r"\,", "2011": "-", "2013": "--", "2014": "---", "2217": r"\ensuremath{\ast}",
    "22C5": r"\ensuremath{\cdot}", "2500": "-", "03BC": r"\ensuremath{\mu}", "03A3": r"\ensuremath{\Sigma}",
    "2032": r"\ensuremath{'}", "00B3": r"\ensuremath{^3}", "2074": r"\ensuremath{^4}", "2A7D": r"\ensuremath{\leq}",
}
_authors_tex = r" \and ".join(_tex(a) for a in FLG["authors"])
_meta_line = _tex(f"Version {FLG['label']} · built {FLG['date']} · commit {_meta.commit_text(FLG)}")
# toctree_only=False: the PDF opens with the index page's ledger of findings (an unnumbered
# chapter, see the raw LaTeX in index.md; its headings are rubrics, not sections, so that the
# toctree stays at the top level), then the chapters, numbered from 1 as on the site.
latex_documents = [(root_doc, f"{FLG['slug']}-{FLG['label']}.tex", _tex(FLG["title"]), _authors_tex, "manual",
                    False)]
latex_show_urls = "no"
latex_show_pagerefs = False
latex_domain_indices = False
latex_elements = {
    "papersize": "a4paper",
    "pointsize": "10pt",
    "figure_align": "H",
    "printindex": "",
    "releasename": "Version",
    "fontpkg": r"\usepackage{tgtermes}\usepackage{tgheros}\renewcommand{\ttdefault}{txtt}",
    "preamble": "\n".join(
        [rf"\DeclareUnicodeCharacter{{{k}}}{{{v}}}" for k, v in _UNICODE.items()] + [
            # A character the PDF fonts cannot show (e.g. CJK in a title or a folder name)
            # becomes "?" with a warning that build.py reports, instead of stopping LaTeX.
            r"\makeatletter",
            r"\def\UTFviii@undefined@err#1{\PackageWarning{flg}{Unicode character \expandafter"
            r"\UTFviii@splitcsname\string#1\relax\space cannot be typeset; shown as ?}?}",
            r"\makeatother",
            r"\AtBeginDocument{\pdfstringdefDisableCommands{\def\sphinxhyphen{-}}}",
            r"\setcounter{tocdepth}{1}",
            r"\AtBeginDocument{\hypersetup{",
            rf"  pdftitle={{{_tex(FLG['title'])} (version {_tex(FLG['label'])})}},",
            rf"  pdfauthor={{{_tex(', '.join(FLG['authors']))}}},",
            rf"  pdfsubject={{{_meta_line}}},",
            rf"  pdfkeywords={{version {_tex(FLG['label'])}, autoencoder, latent space, {_tex(FLG['data'])}}},",
            rf"  pdfcreator={{{_tex(FLG['slug'])} report build (Sphinx, MyST-NB)}},",
            rf"  pdfinfo={{Version={{{_tex(FLG['label'])}}},BuildDate={{{FLG['date']}}},Commit={{{FLG['commit_full']}}}}}",
            r"}}",
            r"\renewcommand{\sphinxstyletheadfamily}{\sffamily\bfseries}",
        ]),
    "maketitle": "\n".join([
        r"\begin{titlepage}\centering",
        r"\vspace*{3cm}",
        rf"{{\sffamily\bfseries\Huge {_tex(FLG['title'])}\par}}",
        r"\vspace{1.2cm}",
        rf"{{\Large {_authors_tex.replace(chr(92) + 'and', ', ')}\par}}",
        r"\vspace{1.5cm}",
        rf"{{\Large\sffamily Version {_tex(FLG['label'])}\par}}",
        r"\vspace{0.4cm}",
        rf"{{\large Built {FLG['date']} from commit \texttt{{{_tex(_meta.commit_text(FLG))}}}\par}}",
        r"\vspace{0.4cm}",
        rf"{{\large Data: {_tex(FLG['data'])} (run \texttt{{{_tex(FLG['run_name'])}}})\par}}",
        r"\vfill",
        rf"{{\small Cite as: {_tex(', '.join(FLG['authors']))} ({FLG['year']}). \emph{{{_tex(FLG['title'])}}}. "
        rf"Version {_tex(FLG['label'])}. BibTeX key \texttt{{{_tex(_meta.bib_key(FLG))}}}.\par}}",
        r"\end{titlepage}",
    ]),
}


# --- Escaping of the user's strings in the HTML theme's templates (see the module docstring)
#: Page-context values that hold user strings and that some theme template prints raw.
_ESCAPED_CONTEXT = ("docstitle", "project", "author", "copyright", "shorttitle")


def _escape_context(app, pagename, templatename, context, doctree):
    for name in _ESCAPED_CONTEXT:
        value = context.get(name)
        if isinstance(value, str):
            context[name] = Markup.escape(value)


# --- Wide tables in the HTML (report/_static/flg.css): a table of this many columns or more
# may take the page's width beside the article; the PDF's tables are left as they are.
WIDE_TABLE_COLUMNS = 6


def _mark_wide_tables(app, doctree, docname):
    if app.builder.format != "html":
        return
    from docutils import nodes
    for table in doctree.findall(nodes.table):
        group = next(iter(table.findall(nodes.tgroup)), None)
        if group is not None and int(group.get("cols", 0)) >= WIDE_TABLE_COLUMNS:
            table["classes"] += [] if "flg-wide" in table["classes"] else ["flg-wide"]


def setup(app):
    # after the theme's own handler, which sets "author" from the config
    app.connect("html-page-context", _escape_context, priority=900)
    app.connect("doctree-resolved", _mark_wide_tables)
