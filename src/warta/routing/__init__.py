"""Routing released editions to the recipients whose saved alerts they match."""
