"""Code that runs *inside* the isolation (restricted worker, Docker container).

Standard library only (matplotlib imported lazily), because the Docker image copies this package
next to its runner and nothing else of ours.
"""
