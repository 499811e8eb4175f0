"""Prism Pattern SDK: the shared machinery every pattern plugin is built on."""

__version__ = "0.1.0"
