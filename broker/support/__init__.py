"""Support: find a login attempt, explain it, re-check it against today's registry, and see or unlink an account's ESIA link.

Import rule: base modules, ``matching``, and the wings below it (``oidc``, ``staff``, ``regions``, ``login``).
"""
