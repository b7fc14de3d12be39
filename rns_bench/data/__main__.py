"""``python -m rns_bench.data``: see ``rns_bench.cli.data``."""

import sys

from rns_bench.cli.data import main

if __name__ == "__main__":
    sys.exit(main())
