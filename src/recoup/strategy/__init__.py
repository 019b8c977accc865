"""Collection strategies as versioned data, champion/challenger experiments and the daily decisions."""
