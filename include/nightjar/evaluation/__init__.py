"""Evaluating a challenger on its holdout, and the gate policy that decides whether it may
be promoted.
"""
