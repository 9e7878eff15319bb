"""``python -m paget``: the command line (:mod:`paget.cli`)."""
import sys

from .cli import main

sys.exit(main())
