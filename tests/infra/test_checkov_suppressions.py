"""Every checkov suppression sits in its resource's metadata with a reason (as for cdk-nag).

`make checkov` runs checkov itself on the synthesized template and fails on any failed check;
this test keeps each skip explained and limited to the checks that do not apply.
"""

from __future__ import annotations

import re
from typing import Any

from tests.infra.conftest import Synthesized

MIN_REASON_WORDS = 8
CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")
# The only checks skipped anywhere, each for the reason in its resource's metadata.
KNOWN_SKIPS = {"CKV_AWS_18", "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"}


def skips(synthesized: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, skip)
        for logical_id, resource in synthesized.resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_every_skip_names_a_check_and_gives_a_reason(synthesized: Synthesized) -> None:
    found = skips(synthesized)

    assert found
    for logical_id, skip in found:
        assert set(skip) == {"id", "comment"}, logical_id
        assert CHECK_ID.match(skip["id"]), (logical_id, skip)
        assert len(skip["comment"].split()) >= MIN_REASON_WORDS, (logical_id, skip)


def test_only_checks_that_do_not_apply_are_skipped(synthesized: Synthesized) -> None:
    assert {skip["id"] for _, skip in skips(synthesized)} == KNOWN_SKIPS


def test_the_dead_letter_skip_is_only_on_synchronously_invoked_functions(
    synthesized: Synthesized,
) -> None:
    skipped = {logical_id for logical_id, skip in skips(synthesized) if skip["id"] == "CKV_AWS_116"}

    for logical_id in skipped:
        assert "DeadLetterConfig" not in synthesized.resources[logical_id]["Properties"]
    assert {
        logical_id
        for logical_id, resource in synthesized.of_type("AWS::Lambda::Function").items()
        if "DeadLetterConfig" not in resource["Properties"]
    } == skipped


def test_a_resource_skips_a_check_at_most_once(synthesized: Synthesized) -> None:
    found = [(logical_id, skip["id"]) for logical_id, skip in skips(synthesized)]

    assert len(found) == len(set(found))
