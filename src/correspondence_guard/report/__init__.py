"""Outputs: text for people (rich), JSON and JSON Lines for programs."""
