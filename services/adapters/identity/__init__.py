"""Identity adapters: OIDC bearer-token validation (PyJWT) and the built-in local issuer."""
