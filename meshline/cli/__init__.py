"""meshline/cli."""
