"""The JSON API for automation under ``/api/v1``: its views, its marshmallow schemas and its OpenAPI document.

Import rule: the top of the wings: it may call any wing's services, never their views.
"""
