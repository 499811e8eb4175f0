"""ConfigError: every configuration problem at once, each named by its env var."""

from __future__ import annotations

from collections.abc import Sequence


class ConfigError(Exception):
    """Raised by ``load_settings`` with *all* problems, so operators fix them in one pass.

    Messages name the environment variable (e.g. ``PRISM_REDIS_ADDR: field required``) because
    that is what an operator sets; values from a YAML file also name the file. Secret values
    are never included.
    """

    def __init__(self, settings_name: str, problems: Sequence[str]) -> None:
        self.settings_name = settings_name
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration for {settings_name}:\n{lines}")
