"""Operations: liveness and readiness, retention (``broker purge``), re-keying stored digests.

Import rule: base modules and the wings' services, never their views.
"""
