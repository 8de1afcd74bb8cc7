"""Feature models and their pre- and post-processing."""
