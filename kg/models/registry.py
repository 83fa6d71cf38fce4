"""Name -> component registries, one per kind (encoders, decoders, models).

A component is an ``nn.Module`` built from one config dataclass. The CLI and
config files address it by name with a dict of options; code may pass the
config instance itself. Sizes that come from the graph or from the
surrounding model (``num_nodes``, ``dim``, ...) are given by the caller as
keyword arguments and may not be repeated in the options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from torch import nn

from training import config_from

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class Entry(Generic[M]):
    name: str
    cls: type[M]
    config_cls: type


class Registry(Generic[M]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[M]] = {}

    def register(self, name: str, config_cls: type) -> Callable[[type[M]], type[M]]:
        """Class decorator: ``@ENCODERS.register("rgcn", RGCNConfig)``."""
        key = name.lower()

        def add(cls: type[M]) -> type[M]:
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = Entry(key, cls, config_cls)
            return cls

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Entry[M]:
        try:
            return self._entries[name.lower()]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of "
                             f"{self.names()}") from None

    def config(self, name: str, options: Any = None, **sizes: Any) -> Any:
        """The component's config from ``options`` (instance, mapping or None) plus ``sizes``."""
        entry = self.get(name)
        if isinstance(options, entry.config_cls):
            differ = {k: v for k, v in sizes.items() if getattr(options, k, v) != v}
            if differ:
                raise ValueError(f"{self.kind} {name!r}: the config disagrees with the "
                                 f"model on {sorted(differ)}")
            return options
        options = dict(options or {})
        clash = sorted(set(options) & set(sizes))
        if clash:
            raise ValueError(f"{self.kind} {name!r}: {clash} are set by the model, "
                             "not in the options")
        return config_from(entry.config_cls, {**options, **sizes})

    def build(self, name: str, options: Mapping[str, Any] | Any = None, **sizes: Any) -> M:
        return self.get(name).cls(self.config(name, options, **sizes))

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
