"""`python -m tests.bench --rows ...`: only the sections the chosen rows need run, only those
rows print, and docs/performance.md is left alone unless --out names a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.runner import (
    DOCUMENT,
    BenchSettings,
    Selection,
    output_path,
    parse_arguments,
    run_bench,
)
from tests.bench.stack import BenchStack, loopback_client

TINY = BenchSettings(
    cold_runs=1,
    warm_refunds=2,
    requests=8,
    time_limit=20.0,
    wide_seconds=3.0,
    wide_per_client=1,
    unrelated=(20, 60),
    earlier=(1, 3),
    settled=(2, 12),
    fill_time_limit=20.0,
)


def test_rows_3e_and_3f_need_row_2a_and_two_load_shapes_with_the_same_calls_ceiling() -> None:
    selection = Selection.of(["3e", "3f"])
    assert selection.sections == ["calls", "load"]
    assert [(s.label, s.same_calls) for s in selection.shapes()] == [
        ("1 client, distinct payments", True),
        ("16 clients, distinct payments", True),
    ]
    assert selection.needs_stack and not selection.needs_second_dynamodb


def test_a_row_brings_the_section_its_reference_is_measured_in() -> None:
    assert Selection.of(["1c"]).sections == ["cold", "fx"]
    wide = Selection.of(["3g"])
    assert wide.sections == ["load", "wide"]
    assert [(s.label, s.same_calls) for s in wide.shapes()] == [
        ("16 clients, distinct payments", False)
    ]
    assert Selection.of(["3a"]).sections == ["load"]  # the floor's ceiling needs no row 2a


def test_table_rows_run_without_the_stack_and_every_row_by_default() -> None:
    tables = Selection.of(["5a", "4b"])
    assert tables.sections == ["growth", "search"]
    assert tables.asked == ("4b", "5a")  # the table's order
    assert not tables.needs_stack and tables.needs_second_dynamodb
    everything = Selection.of()
    assert everything.sections[0] == "cold" and everything.sections[-1] == "search"
    assert len(everything.asked) == 21
    with pytest.raises(ValueError, match="no such row: 7z"):
        Selection.of(["3e", "7z"])


def test_only_a_full_run_or_an_explicit_out_writes_the_document(tmp_path: Path) -> None:
    assert output_path(parse_arguments([])) == DOCUMENT
    assert output_path(parse_arguments(["--no-write"])) is None
    assert output_path(parse_arguments(["--rows", "3e,3f"])) is None
    chosen = tmp_path / "rows.md"
    assert output_path(parse_arguments(["--rows", "3e", "--out", str(chosen)])) == chosen
    with pytest.raises(SystemExit):
        parse_arguments(["--rows", "3e,9"])


def test_a_growth_row_alone_runs_the_growth_section_only(dynamodb_local_endpoint: str) -> None:
    client = loopback_client("dynamodb", dynamodb_local_endpoint)
    # no stack: a section that needs one would raise
    result = run_bench(None, client, TINY, Selection.of(["4b"]))
    assert result.sections_run == ["growth"]
    assert result.cold is None and result.calls is None and result.change is None
    assert [row.key for row in result.rows] == ["4b"]
    assert result.growth is not None and result.growth.unrelated_large == 60


def test_rows_3f_and_3g_keep_their_keys_and_references(perf_stack: BenchStack) -> None:
    result = run_bench(perf_stack, None, TINY, Selection.of(["3f", "3g"]))
    assert result.sections_run == ["calls", "load", "wide"]
    assert [row.shape.label for row in result.load] == ["16 clients, distinct payments"]
    rows = {row.key: row for row in result.rows}
    assert list(rows) == ["3f", "3g"]  # 3c is measured for 3g's reference, not printed
    assert "16 clients, distinct payments" in rows["3f"].measure
    assert "the run of row 3c" in rows["3f"].service
    assert "16 clients (row 3c)" in rows["3g"].reference
