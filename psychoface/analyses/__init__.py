"""Psychometric analyses on stored features and ratings (pure functions on arrays and DataFrames)."""
