"""The README stays true: its reliability table is the one the tests' markers generate."""

from conftest import README, TABLE_END, TABLE_START, readme_with_table, reliability_table


def test_readme_reliability_table_is_current(request):
    items = request.session.items
    if not any(i.path.name == "test_cli_errors.py" for i in items):
        import pytest
        pytest.skip("run with the whole suite (the table covers every test file)")
    text = README.read_text()
    assert TABLE_START in text and TABLE_END in text
    assert readme_with_table(text, reliability_table(items)) == text, \
        "README reliability table is stale: run `make reliability-table`"


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "make report" in text and "make test" in text
