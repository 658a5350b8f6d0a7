"""Scorer plugins: discovery (``manager``), calibration, verified artifacts and the models bucket
(``artifacts``, ``registry``), and the built-in scorers, written against the public API in
:mod:`creditscore.plugin` as any outside plugin is."""
