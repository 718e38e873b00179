"""Data files shipped with nnstudio (examples, datasets, icons); installed as ``nnstudio.resources``."""
