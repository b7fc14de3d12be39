"""``python -m rns_bench.tuning``: see ``rns_bench.cli.tune``."""

import sys

from rns_bench.cli.tune import main

if __name__ == "__main__":
    sys.exit(main())
