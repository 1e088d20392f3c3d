"""Hosted video providers beside the local diffusers models: clients, durable task records, cost."""
