"""Plugin discovery: built-ins first, then setuptools entry points in group ``genzoo``.

Every plugin, built-in or third-party, goes through the same path: it is imported, its declared
plugin API version is checked, it is added to a pluggy ``PluginManager``, and its hooks are called
one plugin at a time. A plugin that fails to import, that was built for an incompatible plugin API
or that fails to register is recorded with its error and left out; what it had registered before
failing is dropped too, so nothing is half-registered, and the other plugins keep working.

The plugin API (the hooks of :mod:`genzoo.registry.hookspecs`, the descriptors of
:mod:`genzoo.registry.spec` and the :class:`~genzoo.registry.GenerativeModel` contract) has a
version, :data:`GENZOO_API_VERSION`. A plugin module may declare the major version it was written
for as ``GENZOO_API = "1"``: the same major version is compatible (minor versions only add), a
different one is refused. A plugin that declares none is assumed compatible, and ``genzoo
plugins`` shows ``"api": null`` for it.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import pkgutil
import sys
import threading
import traceback
import types
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import NotFound
from .spec import DatasetSpec, MetricSpec, ModelSpec

ENTRY_POINT_GROUP = "genzoo"
hookimpl = pluggy.HookimplMarker("genzoo")

#: The version of the plugin API this genzoo provides, ``"MAJOR.MINOR"``. A minor release only
#: adds (a new hook, a new optional argument or field); a major release may break plugins, which
#: then declare the new major in ``GENZOO_API`` once they are updated.
GENZOO_API_VERSION = "1.0"

def builtin_plugins() -> dict[str, str]:
    """``{plugin name: module}`` for every module of ``genzoo.plugins``, registered exactly like
    third-party plugins: a new built-in family is a new module there, nothing else."""
    import genzoo.plugins

    return {f"genzoo.{info.name}": f"genzoo.plugins.{info.name}"
            for info in sorted(pkgutil.iter_modules(genzoo.plugins.__path__), key=lambda i: i.name)
            if not info.name.startswith("_")}

_KINDS = {"register_models": ("models", ModelSpec),
          "register_datasets": ("datasets", DatasetSpec),
          "register_metrics": ("metrics", MetricSpec)}


@dataclass
class PluginInfo:
    """What one plugin is and what it did: for ``genzoo plugins`` and the Plugins page."""

    name: str
    version: str | None
    module: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    error: str | None = None
    # The plugin API version the plugin declares (its ``GENZOO_API``), as a string; None when it
    # declares none (it is then assumed compatible). Built-ins are genzoo's own API.
    api: str | None = None

    @property
    def api_note(self) -> str:
        """The plugin API the plugin was built for, in words (for tables)."""
        if self.api is None:
            return f"none declared (assumed {api_major(GENZOO_API_VERSION)})"
        return self.api

    def to_json(self) -> dict:
        """The plugin as ``genzoo plugins --json`` prints it."""
        return {"name": self.name, "version": self.version, "module": self.module,
                "builtin": self.builtin, "api": self.api, "hooks": self.hooks,
                "models": self.models, "datasets": self.datasets, "metrics": self.metrics,
                "error": self.error}


def api_major(version) -> str:
    """The major part of a plugin API version (``"1.2"`` -> ``"1"``, ``1`` -> ``"1"``); a
    ``ValueError`` for anything that is not a version."""
    text = str(version).strip() if isinstance(version, (str, int)) else ""
    major = text.split(".")[0]
    if isinstance(version, bool) or not major.isdigit():
        raise ValueError(f"{version!r} is not a version: write GENZOO_API = \"1\"")
    return str(int(major))


class IncompatiblePlugin(Exception):
    """A plugin declares a ``GENZOO_API`` whose major version this genzoo does not provide;
    ``declared`` is what it declares."""

    def __init__(self, message: str, declared):
        super().__init__(message)
        self.declared = declared


def check_api(name: str, plugin) -> str | None:
    """The plugin API version ``plugin`` (a module, or an object whose module) declares as
    ``GENZOO_API``, or None; :class:`IncompatiblePlugin` naming the plugin, the version it wants
    and the one genzoo provides when the major versions differ, or when it is not a version."""
    declared = getattr(plugin, "GENZOO_API", None)
    if declared is None and not isinstance(plugin, types.ModuleType):
        declared = getattr(sys.modules.get(getattr(plugin, "__module__", "") or ""),
                           "GENZOO_API", None)
    if declared is None:
        return None
    try:
        wanted = api_major(declared)
    except ValueError:
        raise IncompatiblePlugin(
            f"plugin {name!r} declares GENZOO_API = {declared!r}, which is not a plugin API "
            f"version (write GENZOO_API = \"{api_major(GENZOO_API_VERSION)}\"); this genzoo "
            f"provides plugin API {GENZOO_API_VERSION}", declared) from None
    if wanted != api_major(GENZOO_API_VERSION):
        raise IncompatiblePlugin(
            f"plugin {name!r} was built for genzoo plugin API {declared} (GENZOO_API), but this "
            f"genzoo provides plugin API {GENZOO_API_VERSION}; install a release of the plugin "
            f"built for API {api_major(GENZOO_API_VERSION)}, or a genzoo that provides API "
            f"{wanted}", declared)
    return str(declared)


class Registry:
    """Everything the loaded plugins registered, by name, and a record of every plugin."""

    def __init__(self):
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.metrics: dict[str, MetricSpec] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.owner: dict[tuple[str, str], str] = {}  # (kind, name) -> plugin name

    def model(self, name: str) -> ModelSpec:
        """The model registered as ``name``; an error listing the known ones otherwise."""
        if name not in self.models:
            raise NotFound(f"unknown model {name!r}; known models: "
                           f"{', '.join(sorted(self.models))}")
        return self.models[name]

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset registered as ``name``; an error listing the known ones otherwise."""
        if name not in self.datasets:
            raise NotFound(f"unknown dataset {name!r}; known datasets: "
                           f"{', '.join(sorted(self.datasets))} (or a path to a .csv file)")
        return self.datasets[name]

    def metric(self, key: str) -> MetricSpec | None:
        """The registered metric a run's number is stored under: ``key`` itself, or a family
        ``NAME_K`` for ``key`` = ``NAME_<whole number>`` (``test_bits_per_dim_iwae_5000``);
        None for a key no plugin registers."""
        if key in self.metrics:
            return self.metrics[key]
        stem, _, number = key.rpartition("_")
        return self.metrics.get(f"{stem}_K") if stem and number.isdigit() else None

    def plugin_of(self, kind: str, name: str) -> str | None:
        """The plugin that registered the model, dataset or metric ``name``."""
        return self.owner.get((kind, name))


class GenzooPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers plugins which failed to load, and builds the registry."""

    def __init__(self):
        super().__init__("genzoo")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None

    def load_plugin(self, name: str, module_name: str, *, builtin: bool,
                    version: str | None = None, loader=None) -> PluginInfo:
        """Import a plugin, check its declared plugin API version, and add it; an import error
        or an incompatible version is recorded in the returned info, not raised."""
        info = PluginInfo(name=name, version=version, module=module_name, builtin=builtin)
        self.infos[name] = info
        try:
            with contextlib.redirect_stdout(sys.stderr), _said_if_slow(name, builtin):
                # (stdout is the commands' output: a plugin's prints go to stderr)
                plugin = loader() if loader else importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not take the others down
            info.error = _one_line(exc, "failed to import")
            return info
        try:
            declared = check_api(name, plugin)
        except IncompatiblePlugin as exc:
            info.api, info.error = str(exc.declared), f"refused: {exc}"
            return info
        info.api = api_major(GENZOO_API_VERSION) if builtin and declared is None else declared
        try:
            self.register(plugin, name=name)
        except Exception as exc:
            info.error = _one_line(exc, "failed to load")
            return info
        unknown = self._unknown_hooks(name)
        if unknown:  # pluggy's check_pending, for this plugin alone: a misspelled hook
            self.unregister(name=name)
            info.error = "failed to load: " + "; ".join(unknown)
            return info
        info.hooks = sorted(impl_name for impl_name in _KINDS
                            if any(impl.plugin_name == name
                                   for impl in getattr(self.hook, impl_name).get_hookimpls()))
        return info

    def _unknown_hooks(self, name: str) -> list[str]:
        """Each ``@hookimpl`` of plugin ``name`` that no genzoo hookspec declares, with the
        nearest hook name: registered unchecked, it would be called by nothing."""
        problems = []
        for hook_name, caller in vars(self.hook).items():
            if hook_name.startswith("_") or caller.has_spec():
                continue
            if any(impl.plugin_name == name and not impl.optionalhook
                   for impl in caller.get_hookimpls()):
                near = difflib.get_close_matches(hook_name, sorted(_KINDS), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                problems.append(f"@hookimpl {hook_name!r} is not a genzoo hook{hint}; the "
                                f"hooks are {', '.join(sorted(_KINDS))}")
        return problems

    def registry(self) -> Registry:
        """Call every plugin's hooks, plugin by plugin, and return what they registered."""
        if self._registry is None:
            self._registry = _build_registry(self)
        return self._registry


SLOW_IMPORT_SECONDS = 3.0


@contextlib.contextmanager
def _said_if_slow(name: str, builtin: bool):
    """Say on stderr, once, which plugin is still importing after :data:`SLOW_IMPORT_SECONDS`
    and how to skip it: every command and the dashboard's first page wait on the import."""
    def say():
        skip = ("GENZOO_PLUGINS= (empty) loads the built-ins alone" if not builtin
                else "it is built in")
        print(f"genzoo: plugin {name!r} is still importing after {SLOW_IMPORT_SECONDS:.0f} s; "
              f"{skip}, or GENZOO_PLUGINS=a,b names the plugins to load", file=sys.stderr,
              flush=True)

    timer = threading.Timer(SLOW_IMPORT_SECONDS, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _one_line(exc: BaseException, what: str) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" ({os.path.basename(where.filename)}:{where.lineno})" if where else ""
    message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{what}: {type(exc).__name__}: {message}{place}"


def _build_registry(pm: GenzooPluginManager) -> Registry:
    reg = Registry()
    for name, info in pm.infos.items():
        reg.plugins[name] = info
        if info.error is None:
            _register_plugin(pm, reg, name, info)
    return reg


def _register_plugin(pm: GenzooPluginManager, reg: Registry, name: str, info: PluginInfo) -> None:
    """Call one plugin's hooks; commit what it registered only if every call succeeded."""
    staged: list[tuple[str, str, object]] = []  # (kind, name, spec)

    def register(spec, hook_name):
        kind, expected = _KINDS[hook_name]
        if not isinstance(spec, expected):
            raise TypeError(f"{hook_name} must register {expected.__name__} objects, "
                            f"got {type(spec).__name__}")
        taken = reg.owner.get((kind, spec.name)) or next(
            (name for k, n, _ in staged if (k, n) == (kind, spec.name)), None)
        if taken:
            raise ValueError(f"{kind[:-1]} name {spec.name!r} is already registered "
                             f"by plugin {taken!r}")
        staged.append((kind, spec.name, spec))

    try:
        for hook_name in _KINDS:
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != name:
                    continue
                # pluggy's rule: an implementation receives only the arguments it names
                available = {"register": lambda spec, _hook=hook_name: register(spec, _hook)}
                with contextlib.redirect_stdout(sys.stderr):
                    impl.function(**{arg: available[arg] for arg in impl.argnames})
    except Exception as exc:
        info.error = _one_line(exc, "failed to register")
        return
    for kind, spec_name, spec in staged:
        getattr(reg, kind)[spec_name] = spec
        getattr(info, kind).append(spec_name)
        reg.owner[(kind, spec_name)] = name


def _selected_external(env: str | None) -> set[str] | None:
    """Names from ``GENZOO_PLUGINS``: None loads every entry point, an empty set none."""
    if env is None:
        return None
    return {part.strip() for part in env.split(",") if part.strip()}


def get_plugin_manager(*, environ=None) -> GenzooPluginManager:
    """Load the built-in plugins, then the ``genzoo`` entry points, and return the manager.

    ``GENZOO_PLUGINS`` limits what loads: unset loads every installed plugin; an empty value loads
    the built-ins only; a comma list (``genzoo-made,my-plugin``) loads the built-ins plus the
    named entry points.
    """
    environ = os.environ if environ is None else environ
    pm = GenzooPluginManager()
    for name, module_name in builtin_plugins().items():
        pm.load_plugin(name, module_name, builtin=True, version=_version("genzoo"))
    wanted = _selected_external(environ.get("GENZOO_PLUGINS"))
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        if ep.name in pm.infos:
            continue  # the same distribution seen twice on sys.path
        dist = getattr(ep, "dist", None)
        pm.load_plugin(ep.name, ep.value, builtin=False,
                       version=dist.version if dist is not None else None, loader=ep.load)
    return pm


def get_registry(*, environ=None) -> Registry:
    """Shortcut: the registry of a freshly loaded plugin manager."""
    return get_plugin_manager(environ=environ).registry()


def _version(dist_name: str) -> str | None:
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None
