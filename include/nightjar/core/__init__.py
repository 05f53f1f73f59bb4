"""Pure types and rules: settings, the dataset config, names, errors, metrics and the drift
statistics. No I/O.
"""
