"""recoup: post-loan management and collections."""
