"""The nightjar command line, by audience: data engineers, ML engineers, analysts,
operators.
"""
