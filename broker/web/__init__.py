"""HTTP plumbing every wing shares: cookies, security headers, trusted proxies, rate limits, CSRF, statuses.

Import rule: below every wing. Modules here import Flask and the base modules (``config``,
``errors``, ``services``), never a wing.
"""
