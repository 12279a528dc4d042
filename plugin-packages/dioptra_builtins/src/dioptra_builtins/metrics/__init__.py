"""Task plugins that measure distances between arrays and classifier performance."""
