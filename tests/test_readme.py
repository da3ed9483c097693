"""The README stays true: its reliability table is the one the tests' markers generate."""

import subprocess
import sys

from conftest import README, ROOT, TABLE_END, TABLE_START, readme_with_table


def test_readme_reliability_table_is_current(tmp_path):
    out = tmp_path / "table.md"
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-n", "0",
                        f"--reliability-table-to={out}", str(ROOT / "tests")], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:]
    text = README.read_text()
    assert TABLE_START in text and TABLE_END in text
    assert readme_with_table(text, out.read_text()) == text, \
        "README reliability table is stale: run `make reliability-table`"


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "make report" in text and "make test" in text


def test_readme_code_layout_names_every_module():
    text = README.read_text()
    layout = text[text.index("## Code layout"):text.index("## CelebA or your own images")]
    modules = sorted(p.name for p in (ROOT / "analysis").glob("*.py") if not p.name.startswith("__"))
    assert [m for m in modules if f"`{m}`" not in layout] == []
