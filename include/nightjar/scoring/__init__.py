"""Scoring a date into its Delta partition with lineage, and shadow-scoring the challenger."""
