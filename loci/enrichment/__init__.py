"""Enrichment: entities, links, patterns, summaries and types added to memories in the background."""
