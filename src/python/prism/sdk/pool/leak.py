"""Cheap borrower-stack capture for leak warnings.

Capturing a full traceback.StackSummary costs ~50 µs, too much for every acquire. We keep
only (code object, last instruction) pairs (a few µs) and resolve file/line/function names
only when a leak is actually reported.
"""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
from types import CodeType, FrameType

CapturedStack = tuple[tuple[CodeType, int], ...]

STACK_LIMIT = 12

# Frames below the first task step belong to the event loop: noise, and walking them is most
# of the capture cost, so capture stops at the first frame from the asyncio package.
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep


def capture_stack(skip: int = 1, limit: int = STACK_LIMIT) -> CapturedStack:
    """Frames of the caller (``skip`` frames above this one), innermost first.

    Stops at the event loop (asyncio's own frames) or after ``limit`` frames.
    """
    frame: FrameType | None = sys._getframe(skip + 1)
    out: list[tuple[CodeType, int]] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        if code.co_filename.startswith(_ASYNCIO_DIR):
            break
        out.append((code, frame.f_lasti))
        frame = frame.f_back
    return tuple(out)


def _lineno(code: CodeType, lasti: int) -> int:
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return line
    return code.co_firstlineno


def format_stack(stack: CapturedStack) -> str:
    """Render a captured stack like traceback.format_stack (outermost call first)."""
    lines: list[str] = []
    for code, lasti in reversed(stack):
        lineno = _lineno(code, lasti)
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
        source = linecache.getline(code.co_filename, lineno).strip()
        if source:
            lines.append(f"    {source}\n")
    return "".join(lines)
