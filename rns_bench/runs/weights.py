"""Loading a component's weights (backbone, region proposer) with a one-line error naming the option."""

from __future__ import annotations

import contextlib
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rns_bench.core.errors import ConfigError, InputError, RNSBenchError


@contextlib.contextmanager
def weights_loading(what: str, options: dict, prefix: str) -> Iterator[None]:
    """A weight file that exists but cannot be read (truncated, not a checkpoint) becomes one line naming
    the option that points at it, instead of the loader's traceback."""
    try:
        yield
    except RNSBenchError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        zipfile.BadZipFile,
        RuntimeError,
        ValueError,
        OSError,
        TypeError,
    ) as error:
        files = {k: v for k, v in options.items() if isinstance(v, str) and Path(v).expanduser().is_file()}
        first = (str(error).strip().splitlines() or [""])[0][:200]
        if not files and isinstance(error, ValueError | TypeError):  # a bad option value, not a bad file
            given = ", ".join(f"{prefix}.{k}={v!r}" for k, v in options.items())
            raise ConfigError(
                f"{what} cannot be built from {given} ({type(error).__name__}: {first}); check each "
                f"value's type and range against its configs/ file"
            ) from None
        named = ", ".join(f"{prefix}.{k}={v}" for k, v in files.items()) or f"the weights {what} loads"
        raise InputError(
            f"{what} could not load {named} ({type(error).__name__}: {first}); the file is not a "
            "complete checkpoint of this model: download it again or point the option at the right "
            "file"
        ) from None
