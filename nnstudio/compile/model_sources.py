"""Where an imported model comes from: ``package.module:callable(args)`` or ``path/to/net.py:Name``.

One syntax names a model wherever nnstudio takes one (``nnstudio import``, ``nnstudio autograd
--model``, the window's import dialog)::

    torchvision.models:resnet18                  a callable in an importable module, called with no arguments
    torchvision.models:resnet18(num_classes=10)  ... with arguments: Python literals only (ast.literal_eval)
    path/to/net.py:Net                           a class (or function) in a Python file, called with no arguments

**Loading a source runs its code**: importing the module or executing the file, then calling the
callable. That is what a person asks for when they import their model; nnstudio says so wherever it
takes a source. Arguments are never evaluated as code. Every failure (a module that does not import,
a callable that raises, exits or returns something other than an ``nn.Module``) is one
:class:`ImportFailure` whose message names the source and the place.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import FileReadError, check_regular_file

#: The syntax, for messages and help texts.
SYNTAX = ("package.module:callable, package.module:callable(arg=value, ...), path/to/file.py:Name or "
          "hub:owner/repo[:ref]:entrypoint")
HUB_PREFIX = "hub:"
#: A model file larger than this is not a model definition.
MAX_SOURCE_FILE_BYTES = 16 * 2**20
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class ImportFailure(NnstudioError):
    """A model could not be imported; the message is one line naming the culprit."""


@dataclass(frozen=True)
class ModelSource:
    """A parsed source: where the callable lives, its name, and the literal arguments to call it with."""

    text: str
    #: A dotted module name, or a path to a ``.py`` file (``is_file``).
    location: str
    attribute: str
    is_file: bool = False
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: A torch.hub source: ``location`` is ``owner/repo``, ``ref`` its tag or branch (None: main or master).
    hub: bool = False
    ref: str | None = None

    @property
    def call(self) -> str:
        """The call as written: ``resnet18(num_classes=10)``."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.attribute}({', '.join(parts)})"

    @property
    def name(self) -> str:
        """A short name for the imported project: the callable's last part (``resnet18``, ``Net``)."""
        return self.attribute.rpartition(".")[2]


def parse_source(text: str) -> ModelSource:
    """Return the parsed source, or raise ImportFailure saying what is wrong with how it is written."""
    text = text.strip()
    if text.startswith(HUB_PREFIX):
        return _parse_hub(text)
    head, paren, rest = text.partition("(")
    location, colon, attribute = head.rpartition(":")
    if not colon or not location.strip() or not attribute.strip():
        raise ImportFailure(f"{text or 'an empty source'}: write the model as {SYNTAX}")
    location, attribute = location.strip(), attribute.strip()
    if not _DOTTED.fullmatch(attribute):
        raise ImportFailure(f"{text}: {attribute!r} is not a Python name (write {SYNTAX})")
    is_file = location.endswith(".py") or "/" in location or "\\" in location
    if not is_file and not _DOTTED.fullmatch(location):
        raise ImportFailure(f"{text}: {location!r} is neither a module name nor a path to a .py file")
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if paren:
        args, kwargs = _literal_arguments(text, attribute, paren + rest)
    return ModelSource(text, location, attribute, is_file, args, kwargs)


def _parse_hub(text: str) -> ModelSource:
    head, paren, rest = text.partition("(")
    parts = [part.strip() for part in head[len(HUB_PREFIX):].split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ImportFailure(f"{text}: write a hub model as hub:owner/repo:entrypoint or hub:owner/repo:ref:entrypoint")
    repo, attribute = parts[0], parts[-1]
    ref = parts[1] if len(parts) == 3 else None
    owner, slash, name = repo.partition("/")
    if not slash or not _DOTTED.fullmatch(owner.replace("-", "_")) or not _DOTTED.fullmatch(name.replace("-", "_")):
        raise ImportFailure(f"{text}: {repo!r} is not a GitHub repository written owner/repo")
    if not _DOTTED.fullmatch(attribute):
        raise ImportFailure(f"{text}: {attribute!r} is not a Python name")
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if paren:
        args, kwargs = _literal_arguments(text, attribute, paren + rest)
    return ModelSource(text, repo, attribute, False, args, kwargs, hub=True, ref=ref)


def _literal_arguments(text: str, attribute: str, call: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Parse ``(1, num_classes=10)`` into literal values; nothing in it is evaluated as code."""
    try:
        tree = ast.parse("f" + call, mode="eval")
    except SyntaxError as exc:
        raise ImportFailure(f"{text}: the arguments {call} are not valid Python ({exc.msg})") from None
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ImportFailure(f"{text}: write the arguments as one call, e.g. {attribute}(num_classes=10)")
    args = []
    for position, argument in enumerate(node.args, start=1):
        if isinstance(argument, ast.Starred):
            raise ImportFailure(f"{text}: *arguments are not accepted; write each argument out")
        args.append(_literal(text, argument, f"argument {position}"))
    kwargs = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ImportFailure(f"{text}: **arguments are not accepted; write each argument out")
        kwargs[keyword.arg] = _literal(text, keyword.value, keyword.arg)
    return tuple(args), kwargs


def _literal(text: str, node: ast.expr, name: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        shown = ast.unparse(node)
        raise ImportFailure(f"{text}: {name}={shown} is not a Python literal (numbers, text, True/False/None, "
                            "tuples, lists and dicts of them); nnstudio does not evaluate code in arguments") from None


# --- loading (runs the model's code) ----------------------------------------------------------------

def load_module(source: ModelSource | str) -> nn.Module:
    """Import the source's module (or run its file), call the callable, and return the nn.Module it built.

    **This runs the model's code.** Raises ImportFailure (one line) for every way it can go wrong.
    """
    if isinstance(source, str):
        source = parse_source(source)
    if source.hub:
        return _load_hub(source)
    module = _load_file(source) if source.is_file else _import(source)
    target: Any = module
    for part in source.attribute.split("."):
        if not hasattr(target, part):
            where = source.location if not source.is_file else Path(source.location).name
            raise ImportFailure(f"{source.text}: {where} has no {source.attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ImportFailure(f"{source.text}: {source.attribute} is a {type(target).__name__}, not a class or "
                            "function that builds a model")
    with _guarded(source, f"calling {source.call}"), _no_downloads(source):
        model = target(*source.args, **source.kwargs)
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"{source.text}: {source.call} returned {_kind(model)}, not a torch.nn.Module")
    return model


class _NotCached(Exception):
    def __init__(self, url: str, path: str) -> None:
        self.url, self.path = url, path
        super().__init__(path)


def _not_cached_failure(source: ModelSource, url: str, path: str) -> ImportFailure:
    target = Path(path)
    return ImportFailure(f"{source.text}: the pretrained weights are not in the local cache (nnstudio does not "
                         f"download them); put {target.name} in {target.parent} (published at {url}; "
                         "TORCH_HOME chooses the cache folder)")


@contextlib.contextmanager
def _no_downloads(source: ModelSource) -> Iterator[None]:
    """Serve pretrained files from the torch cache only: a download attempt becomes an ImportFailure.

    torchvision's weight enums and hub models fetch through ``torch.hub.download_url_to_file`` only
    when the file is not already in ``torch.hub.get_dir()/checkpoints``. The import runs in its own
    process (see docs/architecture.md), so replacing that function for the call touches nothing else.
    """
    import torch.hub

    def refuse(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        raise _NotCached(url, dst)

    original = torch.hub.download_url_to_file
    torch.hub.download_url_to_file = refuse  # type: ignore[assignment]
    try:
        with contextlib.redirect_stderr(_WithoutDownloadLines(sys.stderr)):
            yield
    except _NotCached as missing:
        raise _not_cached_failure(source, missing.url, missing.path) from None
    except ImportFailure as failure:
        cause = failure.__context__
        while cause is not None and not isinstance(cause, _NotCached):
            cause = cause.__context__
        if isinstance(cause, _NotCached):
            raise _not_cached_failure(source, cause.url, cause.path) from None
        raise
    finally:
        torch.hub.download_url_to_file = original  # type: ignore[assignment]


class _WithoutDownloadLines:
    """stderr without torch.hub's ``Downloading: ...`` line, which is false here (nothing downloads)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith('Downloading: "'):
            return len(text)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def hub_folder(source: ModelSource) -> Path:
    """The folder torch.hub keeps ``source``'s repository in (it may not exist)."""
    import torch.hub

    owner, _, name = source.location.partition("/")
    refs = [source.ref] if source.ref else ["main", "master"]
    folders = [Path(torch.hub.get_dir()) / "_".join([owner, name, ref.replace("/", "_")]) for ref in refs]
    return next((folder for folder in folders if folder.is_dir()), folders[0])


def _load_hub(source: ModelSource) -> nn.Module:
    import torch.hub

    folder = hub_folder(source)
    if not (folder / "hubconf.py").is_file():
        raise ImportFailure(f"{source.text}: the repository {source.location} is not in the local torch.hub cache "
                            f"(nnstudio does not download it); put its files, with hubconf.py, in {folder} "
                            "(TORCH_HOME chooses the cache folder)")
    with _guarded(source, f"loading {source.call} from {folder.name}", importing=True), _no_downloads(source):
        model = torch.hub.load(str(folder), source.attribute, *source.args, source="local", **source.kwargs)
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"{source.text}: {source.call} returned {_kind(model)}, not a torch.nn.Module")
    return model


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__module__}.{type(value).__qualname__}".replace(
        "a builtins.", "a ")


def _import(source: ModelSource) -> Any:
    with _guarded(source, f"importing {source.location}", importing=True):
        return importlib.import_module(source.location)


def _load_file(source: ModelSource) -> Any:
    path = Path(source.location).expanduser()
    try:
        check_regular_file(path, MAX_SOURCE_FILE_BYTES, "model file")
    except FileReadError as exc:
        raise ImportFailure(f"{source.text}: {exc}") from None
    if path.suffix != ".py":
        raise ImportFailure(f"{source.text}: {path.name} is not a Python file (.py)")
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"nnstudio_imported_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportFailure(f"{source.text}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.modules[module_name] = module  # classes defined in the file find their module (dataclasses, pickling)
    sys.path.insert(0, folder)  # the file may import its neighbours, as when it is run as a script
    try:
        with _guarded(source, f"running {path.name}", importing=True):
            spec.loader.exec_module(module)
    except ImportFailure:
        sys.modules.pop(module_name, None)
        raise
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


@contextlib.contextmanager
def _guarded(source: ModelSource, doing: str, importing: bool = False) -> Iterator[None]:
    """Turn whatever the model's code raises (or a sys.exit in it) into one ImportFailure line."""
    try:
        yield
    except ImportFailure:
        raise
    except SystemExit as exc:
        raise ImportFailure(f"{source.text}: {doing} called sys.exit({'' if exc.code is None else repr(exc.code)}) "
                            "instead of returning a model") from None
    except ImportError as exc:
        if importing and isinstance(exc, ModuleNotFoundError) and exc.name and source.location.startswith(exc.name):
            raise ImportFailure(f"{source.text}: there is no module named {exc.name!r} (is the package installed, "
                                "or the name misspelt?)") from None
        raise ImportFailure(f"{source.text}: {doing} failed: {_one_line(exc)}{_where(exc)}") from None
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except SyntaxError as exc:
        where = f" ({Path(exc.filename or '?').name}, line {exc.lineno})" if exc.lineno else ""
        raise ImportFailure(f"{source.text}: {doing} failed: SyntaxError: {exc.msg}{where}") from None
    except BaseException as exc:  # noqa: BLE001 - the model's code may raise anything; name it on one line
        raise ImportFailure(f"{source.text}: {doing} raised {_one_line(exc)}{_where(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def _where(exc: BaseException) -> str:
    """`` (net.py, line 12)``: the innermost frame outside nnstudio and torch, else the innermost one."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _ours(f.filename)]
    if not frames:
        return ""
    outside_torch = [f for f in frames if not _library(f.filename)]
    frame = (outside_torch or frames)[-1]
    return f" ({Path(frame.filename).name}, line {frame.lineno})"


def _ours(filename: str) -> bool:
    return os.sep + "nnstudio" + os.sep in filename or filename.startswith("<frozen importlib")


def _library(filename: str) -> bool:
    return any(os.sep + name + os.sep in filename for name in ("torch", "torchvision", "site-packages"))
