"""Task plugins that create seeded random generators and draw from them."""
