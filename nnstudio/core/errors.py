"""Error types of nnstudio; each carries the facts (node id, field, location) the UI points at."""

from __future__ import annotations


class NnstudioError(Exception):
    """Base of every error nnstudio raises on purpose; ``str(error)`` is a message for people."""


class ParamError(NnstudioError, ValueError):
    """A parameter value was refused; ``field`` names the parameter."""

    def __init__(self, field: str, message: str, node_id: str | None = None) -> None:
        self.field = field
        self.node_id = node_id
        self.reason = message
        where = f"{node_id}.{field}" if node_id else field
        super().__init__(f"{where}: {message}")

    def on_node(self, node_id: str) -> ParamError:
        return ParamError(self.field, self.reason, node_id)


class DuplicateLayerError(NnstudioError):
    def __init__(self, type_id: str) -> None:
        self.type_id = type_id
        super().__init__(f"a layer with type id {type_id!r} is already registered")


class UnknownLayerError(NnstudioError, KeyError):
    def __init__(self, type_id: str) -> None:
        self.type_id = type_id
        super().__init__(type_id)

    def __str__(self) -> str:
        return f"unknown layer type {self.type_id!r}"


class GraphError(NnstudioError):
    """An edit or a graph that is not allowed; ``node_id`` names the node concerned, if any."""

    def __init__(self, message: str, node_id: str | None = None) -> None:
        self.node_id = node_id
        self.reason = message
        super().__init__(f"{node_id}: {message}" if node_id else message)


class ProjectFileError(NnstudioError):
    """A project file could not be read; ``location`` points into the file (a JSON path or line)."""

    def __init__(self, message: str, path: str | None = None, location: str | None = None) -> None:
        self.path = path
        self.location = location
        self.reason = message
        parts = [p for p in (path, location) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)
