"""MEMO-013 Appendix B's summary block, as the tests check it."""

from __future__ import annotations

import re

__all__ = ["APPENDIX_B", "appendix_b_block"]

APPENDIX_B = [
    r"^Register Operations:$",
    r"^  Total Requests:   \d+$",
    r"^  Success Rate:     \d+\.\d\d%$",
    r"^  Latency P95:      [\d.]+ms$",
    r"^  Latency P99:      [\d.]+ms$",
]


def appendix_b_block(summary: str, op: str) -> list[str]:
    """The 5 lines from "<Op> Operations:" on, each checked against APPENDIX_B."""
    lines = summary.splitlines()
    start = lines.index(f"{op.capitalize()} Operations:")
    block = lines[start : start + len(APPENDIX_B)]
    patterns = [APPENDIX_B[0].replace("Register", op.capitalize()), *APPENDIX_B[1:]]
    for pattern, line in zip(patterns, block, strict=True):
        assert re.match(pattern, line), (pattern, line, summary)
    return block
