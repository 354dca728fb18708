"""companion: the tested PyTorch package behind the book."""

__version__ = "0.1.0"
