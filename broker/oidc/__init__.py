"""The broker as the diary portals' OpenID Connect provider: clients, signing keys, diary sessions, codes and tokens.

``provider`` holds Authlib's grants and the storage behind them, ``refresh`` the mobile app's
refresh token families, ``views`` the endpoints (discovery, JWKS, authorize, token, userinfo,
logout). Import rule: base modules only
(``broker.db``, ``broker.web``, ``services``, ...); the views also call the login wing's flow.
"""
