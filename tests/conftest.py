import os
import sys
from pathlib import Path

# Tests never reach a hub and never log online.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

sys.path.insert(0, str(Path(__file__).parent))
