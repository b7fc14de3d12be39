"""``python -m rns_bench.report``: see ``rns_bench.cli.report``."""

import sys

from rns_bench.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
