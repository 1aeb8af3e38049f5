"""Regions: ESIA login switched on region by region, their policy overrides, their figures, and pre-flight.

Import rule: base modules and the wings below it (``oidc``'s sessions, ``staff`` for access and audit).
"""
