"""Import stub for ``mmcv.ops`` so that mmsegmentation's datasets and metrics import on mmcv-lite.

mmsegmentation 1.2.2 needs mmcv < 2.2; the only wheel of it that installs without a compiler
is ``mmcv-lite`` 2.1.0, which ships ``mmcv/ops/*.py`` but not the compiled ``mmcv._ext`` they
load, so ``import mmcv.ops`` fails. ``mmseg.datasets`` imports ``mmseg.utils``, which imports
``mmcv.ops.point_sample`` at import time (as do a few model heads and losses): with the
import failing, neither the dataset classes nor ``IoUMetric`` can be imported.

:func:`import_with_mmcv_ops_stub` registers, only when the real ``mmcv.ops`` cannot be
imported, a stand-in module holding the names mmseg imports from it at import time. Every
stand-in raises when used: the reference tests read files and compute metrics, they never
run one of these compiled ops. No mmcv or mmseg code is copied here.
"""

from __future__ import annotations

import importlib
import sys
import types
from types import ModuleType

# ``from mmcv.ops import ...`` at import time in mmseg 1.2.2 (mmseg/utils, mmseg/models, mmseg/engine).
STUB_FUNCTIONS = ("point_sample", "sigmoid_focal_loss")
STUB_CLASSES = ("CrissCrossAttention", "PSAMask", "DeformConv2d", "ModulatedDeformConv2d")
STUB_FLAG = "__rns_bench_stub__"


def _unavailable(name: str) -> str:
    return (
        f"mmcv.ops.{name} is an import stub (tests/reference_mmseg/mmcv_ops_stub.py): mmcv-lite has no "
        f"compiled ops; install a full mmcv build to run it"
    )


def _stub_function(name: str):
    def stub(*args, **kwargs):
        raise NotImplementedError(_unavailable(name))

    stub.__name__ = stub.__qualname__ = name
    return stub


def _stub_class(name: str) -> type:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_unavailable(name))

    return type(name, (), {"__init__": __init__, "__module__": "mmcv.ops"})


def install_mmcv_ops_stub() -> bool:
    """Make ``import mmcv.ops`` succeed; True if the stub was installed, False if the real one imports.

    Requires mmcv itself (ImportError otherwise). Idempotent.
    """
    import mmcv

    current = sys.modules.get("mmcv.ops")
    if current is not None:
        return bool(getattr(current, STUB_FLAG, False))
    try:
        importlib.import_module("mmcv.ops")
        return False
    except ImportError:  # mmcv-lite: ModuleNotFoundError for mmcv._ext
        pass
    # Drop what the failed import left behind (sub-modules imported before the failure).
    for name in [name for name in sys.modules if name.startswith("mmcv.ops.")]:
        del sys.modules[name]
    stub = types.ModuleType("mmcv.ops", "Import stub for mmcv.ops (see tests/reference_mmseg/mmcv_ops_stub.py).")
    setattr(stub, STUB_FLAG, True)
    for name in STUB_FUNCTIONS:
        setattr(stub, name, _stub_function(name))
    for name in STUB_CLASSES:
        setattr(stub, name, _stub_class(name))
    sys.modules["mmcv.ops"] = stub
    mmcv.ops = stub
    return True


def import_with_mmcv_ops_stub(module: str) -> ModuleType:
    """``importlib.import_module(module)`` after :func:`install_mmcv_ops_stub`."""
    install_mmcv_ops_stub()
    return importlib.import_module(module)
