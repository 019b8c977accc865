"""Collateral (抵质押物): items per loan, valuation history, repossession, disposal and its recovery."""
