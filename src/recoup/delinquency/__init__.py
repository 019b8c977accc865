"""Delinquency: days past due, overdue amounts, buckets, the five-category class, transitions."""
