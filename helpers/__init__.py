"""Shared package behind the quarterly e-commerce operations report notebooks."""
