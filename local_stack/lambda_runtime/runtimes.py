"""The two runtimes the engine can run the functions in, made from one description.

* ``"inprocess"``: the handlers in this process (:class:`~local_stack.lambda_runtime.invoker.Invoker`), one
  invocation at a time; ``engine.functions[name]`` are the modules that run, whose adapters a test swaps for
  fakes. What the state machine tests with fakes use.
* ``"process"``: each function in sandbox processes
  (:class:`~local_stack.lambda_runtime.process_runtime.ProcessRuntime`), concurrent, with the template's
  timeouts enforced. What the local stack uses. ``engine.functions[name]`` then imports the module in this
  process for reading only (its settings): setting an attribute on it raises, since no sandbox would see
  it; a fake reaches a sandbox through a sandbox hook.

A sandbox hook is a ``"module:callable"`` string; in every sandbox of its function (and, in process, once),
after ``functions.<name>.app`` is imported, it is called with that module.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

RUNTIMES = ("inprocess", "process")


def import_fresh(module_name: str) -> ModuleType:
    """Import ``module_name`` afresh (re-run if imported before), so it reads the current settings."""
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


def import_functions(
    modules: Mapping[str, str], hooks: Mapping[str, Sequence[str]] | None = None
) -> dict[str, ModuleType]:
    """Each function's module imported afresh, then its sandbox hooks called with it (in-process)."""
    imported = {}
    for function, module_name in modules.items():
        module = import_fresh(module_name)
        for hook in (hooks or {}).get(function, ()):
            pkgutil.resolve_name(hook)(module)
        imported[function] = module
    return imported


class ReadOnlyModule:
    """A function's module as this process imported it, for reading: the process runtime runs the function
    in sandboxes, so a fake set here would never be called; setting an attribute says so."""

    def __init__(self, module: ModuleType) -> None:
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_module"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        module = object.__getattribute__(self, "_module")
        raise AttributeError(
            f"{module.__name__} runs in sandbox processes (runtime='process'): setting {name} here would not "
            "reach them; use sandbox_hooks, or runtime='inprocess' to swap adapters for fakes"
        )

    __delattr__ = __setattr__  # type: ignore[assignment]


class SandboxedModules(Mapping[str, Any]):
    """``engine.functions`` in process mode: each module imported here on first use, read-only."""

    def __init__(self, modules: Mapping[str, str], importer: Callable[[str], ModuleType] = import_fresh):
        self._names = dict(modules)
        self._importer = importer
        self._imported: dict[str, ReadOnlyModule] = {}

    def __getitem__(self, function: str) -> Any:
        if function not in self._imported:
            self._imported[function] = ReadOnlyModule(self._importer(self._names[function]))
        return self._imported[function]

    def __setitem__(self, function: str, value: Any) -> None:
        raise TypeError(
            "the functions run in sandbox processes (runtime='process'): add a function with "
            "extra_functions={name: 'module'} instead of setting a module"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
