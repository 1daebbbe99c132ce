"""Every id that reaches a URL has a known shape; anything else is refused."""

from __future__ import annotations

import pytest

from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id, validate_workflow_id

GOOD_UUID = "d0b7e319-8172-424c-86ea-543cd23f9756"
HOSTILE = [
    "",
    " ",
    "../etc/passwd",
    "..",
    "%2f",
    f"{GOOD_UUID}/../x",
    f"{GOOD_UUID}%2f",
    f" {GOOD_UUID}",
    f"{GOOD_UUID}\n",
    f"{GOOD_UUID}?x=1",
    f"{GOOD_UUID}#",
    GOOD_UUID.replace("-", ""),
    GOOD_UUID[:-1] + "g",
    GOOD_UUID + "0",
    "d0b7e319-8172-424c-86ea-543cd23f975６",  # full-width digit
    "<script>",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_workflow_and_cluster_ids_are_refused(value: str) -> None:
    """Traversal, encodings, whitespace and near-misses raise InvalidID."""
    with pytest.raises(InvalidID):
        validate_workflow_id(value)
    with pytest.raises(InvalidID):
        validate_cluster_id(value)


def test_good_ids_normalise_to_lower_case() -> None:
    """Upper-case hex is accepted and lower-cased."""
    assert validate_workflow_id(GOOD_UUID.upper()) == GOOD_UUID
    assert validate_project_id("47EB1D64CBEB45CFA01AE20AF4F4B563") == (
        "47eb1d64cbeb45cfa01ae20af4f4b563"
    )


@pytest.mark.parametrize("value", ["p1", "47eb1d64cbeb45cfa01ae20af4f4b56", "x" * 32, None, 3])
def test_bad_project_ids(value: object) -> None:
    """Project ids are 32 hex digits."""
    with pytest.raises(InvalidID):
        validate_project_id(value)
