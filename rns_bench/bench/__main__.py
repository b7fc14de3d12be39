"""``python -m rns_bench.bench``: see ``rns_bench.cli.bench``."""

import sys

from rns_bench.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
