"""The built-in scorers, registered through the ``creditscore`` entry points like any third-party plugin."""
