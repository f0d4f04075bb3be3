"""A warm-up step that would outlast any test: only a host's stop signal ends it."""

import time

time.sleep(600)
