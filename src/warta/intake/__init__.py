"""Intake: turn untrusted publisher content into safe HTML and plain text."""
