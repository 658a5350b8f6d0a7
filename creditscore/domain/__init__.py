"""What every part of the platform means by a customer, a feature and a score, defined once.

- :mod:`.features`: every feature, its group (the customer item's attributes) and the application form;
- :mod:`.identity`: national ID, email and phone formats, and the guard items that keep contacts unique;
- :mod:`.scores`: score scaling (PD to 300–850) and the FICO bands;
- :mod:`.storage`: the tables' key, index and attribute names.

The ETL, training, the plugins and the service depend on it; it depends on none of them (only on the
configuration), as ``.importlinter`` states and ``make lint`` checks.
"""
