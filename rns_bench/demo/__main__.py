"""``python -m rns_bench.demo``: see ``rns_bench.demo.app``."""

import os
import sys

# Gradio reports usage online unless told not to; the suite runs offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rns_bench.demo.app import main  # noqa: E402  (after the environment above)

if __name__ == "__main__":
    sys.exit(main())
