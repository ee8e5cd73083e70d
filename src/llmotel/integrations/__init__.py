"""Integrations: tables of patches and framework bridges, one package per library."""
