"""Sample plugins used by the pyplugs tests."""
