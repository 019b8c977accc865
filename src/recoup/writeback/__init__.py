"""Write-back to the lender's core system: instructions out (a file per day, a webhook), reconciled
against the next extracts (docs/writeback.md)."""
