"""Sync tests run on their own, empty emulators (see `fresh` in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.stack import PipelineStack


@pytest.fixture
def stack(sync_stack: PipelineStack) -> PipelineStack:
    return sync_stack
