"""The model of nnstudio: layer catalog, graph, commands, projects. Pure Python: no torch, no Qt."""
