"""Imported last: a child that has it in sys.modules was forked after the warm-up."""

import os

SEEN_LANG = os.environ.get("LANG")  # what the warm-up saw (the children see no environment)
