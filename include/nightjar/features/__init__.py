"""The feature definitions and the Spark job that computes them, one code path for training
and scoring.
"""
