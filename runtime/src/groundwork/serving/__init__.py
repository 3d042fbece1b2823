"""Serving: the HTTP API, batch scoring and the prediction log."""
