"""The error every job raises for a failure it can explain; the CLI prints its message and exits 1."""


class JobError(Exception):
    """A job could not do its work for a reason its message names (bad input, missing data, ...)."""
