"""Runnable examples for the Prism SDK docs; each is exercised by a test so it cannot rot."""
