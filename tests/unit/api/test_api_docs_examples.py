"""docs/api.md stays true: its curl examples run, and every JSON example is a real answer.

The curl commands run through the handler in the order the document gives them. Each JSON
example must then match one of the answers seen, where `"...": "..."` stands for fields left
out and a string like `"<uuid>"` for any value.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from tests.unit.api.conftest import Api

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
CURL = re.compile(r"^curl .*?(?=^\S|\Z)", re.DOTALL | re.MULTILINE)  # indented lines go on

# Answers the document shows that no curl example asks for, sent right after the first
# refund: (method, path, body, idempotency key)
EXTRA_REQUESTS: list[tuple[str, str, Any, str | None]] = [
    (
        "POST",
        "/refunds",
        {
            "transaction_id": "12345",
            "amount": 1000,
            "reason": "other",
            "metadata": {"simulate": "timeout"},
        },
        "doc-example-202",
    ),
    (
        "POST",
        "/refunds",
        {
            "transaction_id": "12345",
            "amount": 1000,
            "reason": "other",
            "metadata": {"simulate": "decline"},
        },
        "doc-example-422",
    ),
    (
        "POST",
        "/refunds",
        {"transaction_id": "12345", "amount": 0, "reason": "other"},
        "doc-example-400",
    ),
    ("GET", "/transactions/54321/ledger", None, None),
]


def blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def curl_commands() -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, path, headers, body) of each curl command, in document order."""
    commands = []
    for block in blocks("sh"):
        for command in CURL.findall(block):
            words = shlex.split(command.replace("\\\n", " "))
            method, path, headers, body = "GET", "", {}, None
            for index, word in enumerate(words):
                following = words[index + 1] if index + 1 < len(words) else ""
                if word == "-X":
                    method = following
                elif word == "-H":
                    name, _, value = following.partition(":")
                    headers[name.strip()] = value.strip()
                elif word == "-d":
                    body = json.loads(following)
                elif word.startswith("$BASE"):
                    path = word.removeprefix("$BASE")
            commands.append((method, path, headers, body))
    return commands


def matches(example: Any, answer: Any) -> bool:
    if isinstance(example, dict):
        return isinstance(answer, dict) and all(
            key in answer and matches(value, answer[key])
            for key, value in example.items()
            if key != "..."
        )
    if isinstance(example, list):
        return (
            isinstance(answer, list)
            and len(example) <= len(answer)
            and all(matches(e, a) for e, a in zip(example, answer, strict=False))
        )
    if isinstance(example, str) and example.startswith("<") and example.endswith(">"):
        return isinstance(answer, str) and bool(answer)
    return bool(example == answer)


def test_the_documented_examples_are_real_answers(api: Api) -> None:
    # Given the document's curl commands, run in order
    commands = curl_commands()
    assert len(commands) >= 8
    answers: list[Any] = []
    extras_sent = False
    for method, path, headers, body in commands:
        headers.pop("Authorization", None)
        status, answer, _ = api.call(method, path, body, headers=headers)
        assert status < 300, (method, path, answer)
        answers.append(answer)
        if (method, path) == ("POST", "/refunds") and not extras_sent:
            extras_sent = True
            for extra_method, extra_path, extra_body, key in EXTRA_REQUESTS:
                key_header = {"Idempotency-Key": key} if key else {}
                answers.append(
                    api.call(extra_method, extra_path, extra_body, headers=key_header)[1]
                )
    assert extras_sent
    # Then each JSON example is one of the answers
    examples = blocks("json")
    assert len(examples) >= 8
    for example in examples:
        parsed = json.loads(example)
        assert any(matches(parsed, answer) for answer in answers), example
