"""Exceptions are for bugs and broken inputs at the edge; business outcomes are events.

EngineError
├── InvariantViolation (also AssertionError)   our bug: crash, restart, reconcile
├── InvalidTransition                          a state machine was asked for an illegal move
└── ConfigError (also ValueError)              bad configuration or parameters from a user
"""

from __future__ import annotations

__all__ = ["EngineError", "InvariantViolation", "InvalidTransition", "ConfigError"]


class EngineError(Exception):
    """Root of every error this package raises on purpose."""


class InvariantViolation(EngineError, AssertionError):
    """Something that cannot happen did: a bug in the engine, never the venue's fault."""


class InvalidTransition(EngineError):
    """A local request for a state change the transition table does not allow."""


class ConfigError(EngineError, ValueError):
    """A configuration value or user parameter is invalid; the message says which and why."""
