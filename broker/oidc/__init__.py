"""oidc"""
