"""Task plugins that transform image arrays (channels-last)."""
