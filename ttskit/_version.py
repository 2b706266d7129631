"""ttskit's version, in a module that imports nothing, so that any layer can read it."""

__version__ = "0.1.0"
