"""Thin ``python -m`` entry points: parse, call, and turn a suite error into one line + exit status 2."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

from rns_bench.core.errors import RNSBenchError

T = TypeVar("T")


def exit_on_user_error(call: Callable[[], T]) -> T:
    """``call()``; a suite error (bad input: its message is the fix) prints one line and exits 2;
    Ctrl-C exits 130 without a traceback."""
    try:
        return call()
    except RNSBenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # the command said what finished and how to resume; no traceback
        sys.exit(130)


def exit_status(command: Callable[[], int]) -> int:
    """The exit status of a ``main(argv) -> int`` body: its own, 2 on bad input (one line), 130 on Ctrl-C."""
    try:
        return exit_on_user_error(command)
    except SystemExit as error:
        return int(error.code or 0)


def quiet_lightning() -> None:
    # One Trainer per run: its banners ("GPU available", tips) would bury the sweep's progress bar.
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
