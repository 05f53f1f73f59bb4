"""Errors shared across steps."""


class MissingInputError(LookupError):
    """A step's input does not exist yet (no champion, no features for the date...).

    Retrying the same step cannot fix it: an earlier step or DAG has to run first, and the
    message says which.
    """
