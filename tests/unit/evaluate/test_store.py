"""The evaluation cache's key names the tool by content."""

from __future__ import annotations

import pytest

from nix_tag_check import state
from nix_tag_check.evaluate import store


def test_the_tool_key_names_the_tool_by_content(monkeypatch: pytest.MonkeyPatch) -> None:
    before = store.tool_key()
    monkeypatch.setattr(state, "tool_identity", lambda: "another build of the tool")
    assert store.tool_key() != before
