"""nnstudio: design, train and understand PyTorch networks with the mouse."""

__version__ = "0.1.0"
