"""The person's login through ESIA: pending logins, the decision, the attempts, the account chooser, the first-link confirmation.

Import rule: base modules, ``matching`` and ``providers``, and the wings below it (``oidc``,
``staff``, ``regions``). The views are imported only by ``create_app``, the CLI only by ``broker.cli``.
"""
