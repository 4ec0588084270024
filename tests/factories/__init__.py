"""Builders shared by the test tiers: synthetic run directories and raw records, and helpers
for tests that start real processes."""
