"""``python -m tfq_meta.distributed [options] script.py [script args]``: see ``--help``."""
import sys

from tfq_meta.distributed.search.cli import main

if __name__ == "__main__":
    sys.exit(main())
