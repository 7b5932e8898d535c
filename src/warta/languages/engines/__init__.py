"""Translation engines, one registered class per module."""
