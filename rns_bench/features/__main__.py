"""``python -m rns_bench.features``: see ``rns_bench.cli.features``."""

import sys

from rns_bench.cli.features import main

if __name__ == "__main__":
    sys.exit(main())
