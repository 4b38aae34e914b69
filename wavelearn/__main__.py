"""``python -m wavelearn``: the same command line as the ``wavelearn`` script."""

import sys

from wavelearn.cli import main

if __name__ == "__main__":
    sys.exit(main())
