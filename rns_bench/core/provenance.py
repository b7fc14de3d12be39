"""Which code a result came from: the git revision of a checkout (ours, or a backbone's source)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_revision(directory: Path) -> str | None:
    """The commit ``directory``'s git checkout is at (``+dirty`` when tracked files are modified),
    or None when it is not a git checkout or git is unavailable."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        if not revision:
            return None
        return f"{revision}+dirty" if git("status", "--porcelain", "--untracked-files=no") else revision
    except (OSError, subprocess.SubprocessError):
        return None
