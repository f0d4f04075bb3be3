"""A warm-up step that takes long (longer than the tests' run time limits)."""

import time

time.sleep(6)
