"""Printable documents: agreements, certificates and statements as PDF (see :mod:`recoup.documents.pdf`)."""
