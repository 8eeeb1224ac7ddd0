"""Recall: candidates, current-state filtering, scoring, expansion."""
