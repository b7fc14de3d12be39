"""``python -m rns_bench.segment``: see ``rns_bench.cli.segment``."""

import sys

from rns_bench.cli.segment import main

if __name__ == "__main__":
    sys.exit(main())
