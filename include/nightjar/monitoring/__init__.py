"""Drift, realised performance, and the loop guard that decides whether to request a
retrain.
"""
