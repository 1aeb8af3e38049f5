"""Staff: admins, regional operators and support agents; their sessions, API tokens, access rules and the audit log.

Import rule: base modules and ``oidc`` only; every other wing may use staff's access and audit.
"""
