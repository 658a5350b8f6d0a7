"""Scorer plugins: the contract (``contract``, ``hookspecs``), discovery (``manager``) and the built-ins."""
