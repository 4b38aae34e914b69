"""``python -m wavelearn``: the same command line as the ``wavelearn`` script."""

import sys

if __name__ == "__main__":
    try:
        from wavelearn.cli import main
    except KeyboardInterrupt:  # Ctrl-C while the package is imported: no traceback
        sys.exit(130)
    sys.exit(main())
