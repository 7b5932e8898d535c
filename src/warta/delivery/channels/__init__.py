"""The delivery channels: each module registers one `Channel` class by name."""
