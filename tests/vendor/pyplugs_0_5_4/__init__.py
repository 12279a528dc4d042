"""Tests for the pyplugs package."""
