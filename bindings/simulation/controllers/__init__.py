"""Controllers: plugins that act on a running simulation."""
