"""Neural-network building blocks (layers arrive with the nn issue); ``functional`` holds the ops."""

from . import functional

__all__ = ["functional"]
