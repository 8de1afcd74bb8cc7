"""Official weights: the artifact registry, download and cache, and format converters."""
