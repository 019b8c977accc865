"""Cases: one borrower, one case, holding all their accounts in collections."""
