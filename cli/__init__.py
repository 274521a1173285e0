"""The ``srft`` command line."""
