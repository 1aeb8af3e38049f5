"""Tests of the mock ESIA, driven by a client written independently of it and of ``providers``."""
