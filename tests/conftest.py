"""Shared fixtures: workbooks generated once per session into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdsheet.api import generate


@pytest.fixture(scope="session")
def lesson_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lesson's quadratic with default settings (never modify it: copy first)."""
    return generate("quadratic", tmp_path_factory.mktemp("lesson") / "quadratic.xlsx")


@pytest.fixture(scope="session")
def rates_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("quadratic", tmp_path_factory.mktemp("rates") / "rates.xlsx",
                    lrs=[0.001, 0.01, 0.05, 0.1, 0.19, 0.2, 0.21])
