"""Training LightGBM on a pinned snapshot, and the one encoder from feature rows to the
model's matrix.
"""
