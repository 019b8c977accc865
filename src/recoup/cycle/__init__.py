"""The daily cycle: steps over the book as of D, recorded in ``cycle_run``, resumable after a crash."""
