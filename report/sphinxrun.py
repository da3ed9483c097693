"""Sphinx and LaTeX runs of the report build, and the one-line diagnosis of a failed chapter."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from buildlog import BuildError, log
from processes import run_logged

HERE = Path(__file__).resolve().parent
SRC = HERE  # the Sphinx source directory (build.py's ``--source`` for tests)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOISE = ("Kernel is running over TCP without encryption",)
#: A chapter's kernel lost the race for a TCP port to another process's kernel: jupyter_client picks
#: free ports, closes them and hands them to the kernel, which binds them a moment later (a known,
#: unfixed race between kernels started at once, e.g. two report builds). Nothing of the build is
#: wrong; the same build is run again, at most this many times.
PORT_RACE = "ZMQError: Address already in use"
PORT_RACE_RETRIES = 2


def chapter_title(md: Path) -> str:  # noqa: D103
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


def diagnose(text: str) -> str | None:
    """One line naming the chapter, cell and error of a failed notebook execution."""
    text = ANSI.sub("", text)
    m = re.search(r"ExecutionError: (\S+\.md)", text) or re.search(r"(\S+/[0-9][0-9]-[^/\s]+\.md): Executing notebook",
                                                                   text)
    errlog = re.search(r"(/\S*sphinx-err-\S+\.log)", text)
    full = text
    if errlog and Path(errlog.group(1)).is_file():
        full += "\n" + ANSI.sub("", Path(errlog.group(1)).read_text(encoding="utf-8", errors="replace"))
    cm = re.search(r"An error occurred while executing the following cell:\n\s*-+\n(.*?)\n\s*-+\n", full, re.S)
    if not m and not cm:
        return None
    chapter = Path(m.group(1)) if m else None
    if chapter is not None and not chapter.is_file():
        chapter = SRC / chapter.name
    err = ""
    tail = full[cm.end():] if cm else full
    for line in tail.splitlines():
        s = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(: .*)?$", s) and \
                not s.startswith(("nbclient.", "myst_nb.", "sphinx.")):
            err = s
            break
    where = ""
    if cm and chapter is not None:
        src_lines = cm.group(1).splitlines()
        indent = min((len(l) - len(l.lstrip()) for l in src_lines if l.strip()), default=0)
        src = "\n".join(l[indent:] for l in src_lines).strip()
        try:
            from myst_nb.core.read import read_myst_markdown_notebook
            nb = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
            code = [c for c in nb.cells if c.cell_type == "code"]
            idx = next((i for i, c in enumerate(code) if c.source.strip() == src), None)
            text_md = chapter.read_text(encoding="utf-8")
            pos = text_md.find(src) if src else -1
            lineno = text_md.count("\n", 0, pos) + 1 if pos >= 0 else None
            if idx is not None:
                where = f" in code cell {idx + 1} of {len(code)}" + (f" (line {lineno})" if lineno else "")
        except Exception:  # diagnosis must never hide the original failure
            pass
        if not where:
            where = f" in the cell starting {src.splitlines()[0][:60]!r}" if src else ""
    name = f"chapter {chapter.name} ({chapter_title(chapter)!r})" if chapter and chapter.is_file() else "a chapter"
    return f"{name} failed{where}: {err or 'see the log'}"


def sphinx(builder: str, work: Path, env: dict, jobs: str) -> float:
    t = time.perf_counter()
    out = work / builder
    cmd = [sys.executable, "-m", "sphinx", "-b", builder, "-d", str(work / "doctrees"), "-q", "-j", jobs,
           "-w", str(work / f"{builder}.warnings"), str(SRC), str(out)]
    for attempt in range(PORT_RACE_RETRIES + 1):
        code, text = run_logged(cmd, work / f"{builder}.log", env)
        if code == 0 or PORT_RACE not in text or attempt == PORT_RACE_RETRIES:
            break
        log(f"a chapter's kernel could not bind its port (another kernel took it at the same moment): "
            f"running sphinx {builder} again")
    warnings = [l for l in (work / f"{builder}.warnings").read_text(encoding="utf-8", errors="replace").splitlines()
                if l.strip() and not any(n in l for n in NOISE)] if (work / f"{builder}.warnings").is_file() else []
    if code != 0:
        msg = diagnose(text) or diagnose("\n".join(warnings))
        if msg:
            raise BuildError(msg)
        tail = "\n".join(l for l in ANSI.sub("", text).splitlines()[-25:] if not any(n in l for n in NOISE))
        raise BuildError(f"sphinx {builder} build failed; its last lines:\n{tail}")
    real = [w for w in warnings if "WARNING" in w or "ERROR" in w]
    if real:
        raise BuildError(f"sphinx {builder} build gave {len(real)} warning(s) (treated as errors):\n"
                         + "\n".join(real[:20]))
    return time.perf_counter() - t


def latex_pdf(work: Path, meta: dict, env: dict) -> tuple[Path, float]:
    t = time.perf_counter()
    texdir = work / "latex"
    tex = f"{meta['slug']}-{meta['label']}.tex"
    cmd = ["latexmk", "-pdf", "-dvi-", "-ps-", "-interaction=nonstopmode", "-halt-on-error", "-silent", tex]
    code, text = run_logged(cmd, work / "latexmk.log", env, cwd=texdir)
    pdf = texdir / tex.replace(".tex", ".pdf")
    texlog = texdir / tex.replace(".tex", ".log")
    log_text = texlog.read_text(encoding="utf-8", errors="replace") if texlog.is_file() else text
    if code != 0 or not pdf.is_file():
        lines = log_text.splitlines()
        errs = [" ".join(lines[i:i + 3]) for i, l in enumerate(lines) if l.startswith("!")][:5]
        raise BuildError("LaTeX failed: " + ("; ".join(errs) or "see the log"))
    missing = sorted(set(re.findall(r"Package flg Warning: Unicode character .*?\(U\+([0-9A-Fa-f]+)\)", log_text)))
    if missing:
        chars = ", ".join(f"{chr(int(h, 16))} (U+{h.upper()})" for h in missing)
        log(f"warning: the PDF's fonts cannot show {chars}: they appear as ? in the PDF (the HTML shows them)")
    return pdf, time.perf_counter() - t
