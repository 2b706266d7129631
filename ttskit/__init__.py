"""ttskit: explore text-to-speech APIs in Jupyter."""

__version__ = "0.1.0"
