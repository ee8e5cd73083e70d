"""Version of the llmotel package (read by hatchling)."""

__version__ = "0.1.0"
