"""Reporting: the collections metrics of METRICS.md, computed in one place, and report export."""
