"""The Makefile's knobs do what the README says (dry runs: nothing is installed or run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _dry(*arguments: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CI"))} | env
    return subprocess.run(
        ["make", "-n", "-B", *arguments], cwd=ROOT, capture_output=True, text=True, check=True, env=environment
    ).stdout


def test_torch_index_names_the_wheel_index_and_keeps_the_pins():
    plain = _dry(".venv/.installed")
    assert '"torch==2.14.1"' in plain and "--index-url" not in plain
    chosen = _dry(".venv/.installed", "TORCH_INDEX=https://example.invalid/whl/cu126")
    assert "--index-url https://example.invalid/whl/cu126" in chosen and '"torch==2.14.1"' in chosen


def test_offline_by_default_online_on_request_and_the_users_hf_cache_is_kept():
    show = ["-f", "Makefile", "-f", "-", "show"]
    rule = "show:\n\t@echo HF_HUB_OFFLINE=$$HF_HUB_OFFLINE HF_HOME=$$HF_HOME\n"

    def shown(*extra: str, **env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CI"))} | env
        return subprocess.run(
            ["make", "-s", *show, *extra],
            cwd=ROOT,
            input=rule,
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.strip()

    assert shown() == "HF_HUB_OFFLINE=1 HF_HOME="
    assert shown("ONLINE=1") == "HF_HUB_OFFLINE=0 HF_HOME="
    assert shown(HF_HOME="/my/cache") == "HF_HUB_OFFLINE=1 HF_HOME=/my/cache"
    assert shown(CI="true") == f"HF_HUB_OFFLINE=1 HF_HOME={ROOT}/.tmp/hf"
