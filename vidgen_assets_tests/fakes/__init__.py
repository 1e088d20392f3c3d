"""Loopback fakes of the hosted video providers, each speaking its provider's real HTTP protocol."""
