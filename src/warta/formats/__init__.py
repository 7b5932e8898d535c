"""Output formats: ninjs, feeds (RSS, Atom, JSON Feed), JSON-LD."""
