"""The README stays true: its reliability table is the one the tests' markers generate."""

import subprocess
import sys

from conftest import (DESELECTED, README, ROOT, TABLE_END, TABLE_START, readme_with_table, reliability_table,
                      whole_suite_items)


def collected_table(request, tmp_path) -> str:
    """The reliability table of the whole suite: from this session's tests when it collected them all
    (``make test``), else from a collect-only run of ``tests/``."""
    items = whole_suite_items(request.session)
    if items is not None:
        return reliability_table(items)
    out = tmp_path / "table.md"
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-n", "0",
                        f"--reliability-table-to={out}", str(ROOT / "tests")], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:]
    return out.read_text()


def test_readme_reliability_table_is_current(request, tmp_path):
    text = README.read_text()
    assert TABLE_START in text and TABLE_END in text
    assert readme_with_table(text, collected_table(request, tmp_path)) == text, \
        "README reliability table is stale: run `make reliability-table`"


def test_only_a_whole_suite_session_makes_the_table_from_its_own_tests():
    from types import SimpleNamespace

    def session(*args, where=ROOT):
        config = SimpleNamespace(args=list(args), invocation_params=SimpleNamespace(dir=where), stash={})
        return SimpleNamespace(config=config, items=["a", "b"])
    assert whole_suite_items(session("tests")) == ["a", "b"]  # make test: testpaths
    assert whole_suite_items(session(str(ROOT / "tests"), where=ROOT.parent)) == ["a", "b"]
    assert whole_suite_items(session("tests/test_readme.py")) is None
    assert whole_suite_items(session("tests", "tests/test_readme.py")) is None
    assert whole_suite_items(session("tests/test_readme.py::test_readme_shows_the_two_commands")) is None
    deselected = session("tests")
    deselected.config.stash[DESELECTED] = True  # -k or -m
    assert whole_suite_items(deselected) is None


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "make report" in text and "make test" in text


def test_readme_code_layout_names_every_module():
    text = README.read_text()
    layout = text[text.index("## Code layout"):text.index("## CelebA or your own images")]
    modules = sorted(p.name for p in (ROOT / "analysis").glob("*.py") if not p.name.startswith("__"))
    assert [m for m in modules if f"`{m}`" not in layout] == []
