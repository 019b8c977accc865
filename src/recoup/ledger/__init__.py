"""Hash-chained, append-only audit ledger with Merkle checkpoints (tamper-evident, no blockchain)."""
