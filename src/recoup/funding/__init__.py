"""Funding partners (资金方), each loan's creditor over time and guarantor payouts (代偿)."""
