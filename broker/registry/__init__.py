"""The diary's account registry: the matching engine's registry port on SQL, the file import, the sync API's batches, registry-asked links.

Import rule: base modules and the wings below it (``staff`` for the audit, ``regions``, ``support``'s links).
"""
