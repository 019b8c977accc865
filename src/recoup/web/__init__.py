"""The operational app: the JSON API under ``/api/v1`` (and, later, the server-rendered pages)."""
