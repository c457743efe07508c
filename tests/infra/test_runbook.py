"""docs/runbook.md has a section for every alarm in the template: what it means, what to look
at, what to do."""

from __future__ import annotations

import re

import pytest

from tests.infra.conftest import REPO_ROOT, Synthesized

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
PREFIX = "refund-service-dev-"
PARTS = ("**Means.**", "**Look at.**", "**Do.**")


def _sections() -> dict[str, str]:
    """Each alarm id named in a `### ` heading (one or several, comma-separated) -> its text."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^### ", RUNBOOK.read_text(), flags=re.M)[1:]:
        heading, _, body = chunk.partition("\n")
        for alarm_id in re.findall(r"`(\w+)`", heading):
            sections[alarm_id] = body.split("\n## ", 1)[0]
    return sections


def _alarm_ids(synthesized: Synthesized) -> list[str]:
    return sorted(
        alarm["Properties"]["AlarmName"].removeprefix(PREFIX)
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
    )


def test_every_alarm_has_a_runbook_section(synthesized: Synthesized) -> None:
    sections = _sections()

    assert [alarm_id for alarm_id in _alarm_ids(synthesized) if alarm_id not in sections] == []


def test_the_runbook_names_no_alarm_the_template_lacks(synthesized: Synthesized) -> None:
    assert sorted(set(_sections()) - set(_alarm_ids(synthesized))) == []


@pytest.mark.parametrize("alarm_id", sorted(_sections()))
def test_each_section_says_what_it_means_where_to_look_and_what_to_do(alarm_id: str) -> None:
    section = _sections()[alarm_id]

    assert [part for part in PARTS if part not in section] == [], alarm_id


def test_logs_insights_queries_for_a_refund_and_a_correlation_id() -> None:
    text = RUNBOOK.read_text()

    assert re.search(r"filter refund_id = ", text)
    assert re.search(r"filter correlation_id = ", text)
