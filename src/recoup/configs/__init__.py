"""Versioned configuration: strategies, bucket tables, segment rules, templates, policies."""
