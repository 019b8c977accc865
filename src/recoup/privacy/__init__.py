"""Personal-data protection (PIPL): revealing masked data with a reason, alerts on too many reveals, and
exports that need another user's approval. See docs/privacy.md."""
