"""Scoring: features, models, reason codes, monitoring."""
