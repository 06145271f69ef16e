"""Record every backward / autograd.grad call of one Python process, and call-site evidence, as plain data.

`varmigrate verify` runs a command twice with ``sitecustomize`` (next to this package) on PYTHONPATH;
that file loads this module *by path* in every Python process the command starts, whatever interpreter
it is, so this module imports only the standard library, and torch only once the program itself has
imported it. At exit each process writes one pickle of plain data (dicts, lists, tuples, str, bytes,
numbers) into the run directory; :mod:`varmigrate.harness.runner` reads them back without torch.

Hook point: every Python-level backward path (``Tensor.backward``, ``torch.autograd.backward``,
``torch.autograd.grad``, ``autograd.functional``, reentrant checkpoint) ends in
``torch.autograd.graph._engine_run_backward``, which calls ``Variable._execution_engine.run_backward``;
the class attribute is swapped for a proxy (torch/autograd/graph.py, torch 2.13).
"""

from __future__ import annotations

import atexit
import builtins
import ctypes
import hashlib
import importlib.abc
import os
import pickle
import random
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict

if TYPE_CHECKING:
    import importlib.machinery

FORMAT = 1

# Environment of a recorded run (set by the runner).
ENV_RUN = "VARMIGRATE_RUN"  # directory that receives one record file per process
ENV_ROOT = "VARMIGRATE_ROOT"  # the tree the command runs in: call sites are relative to it
ENV_ORIGINAL = "VARMIGRATE_ORIGINAL_ROOT"  # the user's tree: code imported from there is a leak
ENV_SHARED = "VARMIGRATE_SHARED"  # os.pathsep-separated dirs both runs share (virtualenvs)
ENV_SEED = "VARMIGRATE_SEED"
ENV_SITES = "VARMIGRATE_SITES"  # "1" in the baseline: define the evidence builtins below
ENV_FULL_BYTES = "VARMIGRATE_FULL_BYTES"  # tensors up to this many bytes are stored whole

# The instrumented baseline calls these builtins (see harness/evidence.py); builtins, so that no
# import is added and no line number moves.
ARG_HOOK = "__varmigrate_arg__"
INDEX_HOOK = "__varmigrate_index__"
VALUE_HOOK = "__varmigrate_value__"

# The baseline's PyTorch 0.3 meanings of removed APIs, loaded by path as this module is (see there).
LEGACY_API = os.path.join(os.path.dirname(__file__), "legacy_api.py")

# Per tensor: stored whole up to this size, as a digest and summary statistics above it; after the
# run budget is spent every tensor is stored as a digest.
FULL_BYTES = 1 << 20
RUN_BUDGET = 256 << 20

# Positional parameters of ImperativeEngine.run_backward after `tensors`.
_RUN_BACKWARD_ARGS = (
    "grad_tensors",
    "keep_graph",
    "create_graph",
    "inputs",
    "allow_unreachable",
    "accumulate_grad",
)
# Deep (unrolled) graphs give long structural keys; fold them into a digest past this length.
_KEY_LIMIT = 160


class StoredTensor(TypedDict):
    """A tensor as plain data: whole (``data``) or as ``digest`` plus ``stats`` when large."""

    dtype: str
    shape: tuple[int, ...]
    layout: str
    data: bytes | None
    digest: str | None
    stats: dict[str, float] | None


class LeafInfo(TypedDict):
    """What a report says about a leaf: module parameter name (or ""), shape, dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class CallRecord(TypedDict):
    """One backward / autograd.grad call."""

    seq: int
    kind: str  # "backward" or "grad"
    file: str
    function: str
    line: int
    occurrence: int  # how many calls this (file, function) made before this one
    depth: int  # > 0: re-entrant (a backward inside a backward, e.g. reentrant checkpoint)
    roots: list[StoredTensor | None]  # the values the call starts from (the loss); None: a GradientEdge
    leaves: list[tuple[str, int, StoredTensor | None]]  # (structural key, leaf uid, .grad after)
    retained: list[tuple[str, StoredTensor | None]]  # retain_grad() non-leaves, by structural key
    results: list[StoredTensor | None]  # what autograd.grad returned
    error: str | None  # the recorder's own failure on this call, if any


class ProcessRecord(TypedDict):
    """Everything one process recorded."""

    format: int
    argv: list[str]
    pid: int
    parent: int
    started_ns: int
    torch: bool  # whether the process imported torch
    calls: list[CallRecord]
    leaves: dict[int, LeafInfo]
    exception: dict[str, str] | None
    caught: list[dict[str, str]]  # exceptions a test runner (pytest) caught, with the test's id
    sites: dict[int, dict[str, int]]
    leaked: list[str]  # modules imported from the user's tree instead of the run's copy
    errors: list[str]
    # At exit (processes that made a call): what the training left behind, by a stable name.
    end_state: dict[str, StoredTensor | str]


class _Config:
    """The run's settings, from the environment."""

    def __init__(self, environ: os._Environ[str] | dict[str, str]) -> None:
        self.run_dir = environ[ENV_RUN]
        self.root = _real(environ.get(ENV_ROOT) or os.getcwd())
        original = environ.get(ENV_ORIGINAL)
        self.original = _real(original) if original else None
        self.shared = tuple(_real(p) for p in environ.get(ENV_SHARED, "").split(os.pathsep) if p)
        self.seed = int(environ.get(ENV_SEED) or 0)
        self.sites = environ.get(ENV_SITES) == "1"
        self.full_bytes = int(environ.get(ENV_FULL_BYTES) or FULL_BYTES)


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Call a function right after a top-level module (torch, numpy) has been imported."""

    def __init__(self, callbacks: dict[str, Callable[[ModuleType], None]]) -> None:
        self.callbacks = callbacks

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        callback = self.callbacks.get(fullname)
        if callback is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _NotifyingLoader(spec.loader, self._done(fullname, callback))
        return spec

    def _done(self, name: str, callback: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
        def done(module: ModuleType) -> None:
            self.callbacks.pop(name, None)
            if not self.callbacks and self in sys.meta_path:
                sys.meta_path.remove(self)
            callback(module)

        return done


class _NotifyingLoader(importlib.abc.Loader):
    """Delegate to the real loader; notify once the module has executed."""

    def __init__(self, loader: Any, notify: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.notify = notify

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module must see its own loader (importlib.resources and friends ask it for data).
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.notify(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class _EngineProxy:
    """Stands in for ``Variable._execution_engine``: records ``run_backward``, forwards the rest."""

    def __init__(self, engine: Any, recorder: Recorder) -> None:
        self._engine = engine
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:  # queue_callback, is_checkpoint_valid, ...
        return getattr(self._engine, name)

    def run_backward(self, tensors: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        return self._recorder.on_backward(self._engine, tensors, args, kwargs)


class Recorder:
    """Records one process: installs itself when torch is imported, writes its record at exit."""

    def __init__(self, config: _Config) -> None:
        self.config = config
        self.local = threading.local()
        self._reset()
        self.torch: Any = None
        self._torch_dir = ""
        self._paths: dict[str, str] = {}
        # Live modules and optimizers, each with its creation number (the end state lists them in order).
        self._modules: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._optimizers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._created = 0
        self._modules_changed = False
        self._names: dict[int, tuple[weakref.ref[Any], str]] = {}

    def _reset(self) -> None:
        # Also the fork child's start: another thread may have held the lock at the fork.
        self.lock = threading.RLock()
        self.pid = os.getpid()
        self.parent = os.getppid()
        self.started_ns = time.time_ns()
        self.calls: list[CallRecord] = []
        self.leaf_info: dict[int, LeafInfo] = {}
        self.sites: dict[int, dict[str, int]] = {}
        self.errors: list[str] = []
        self.exception: dict[str, str] | None = None
        self.caught: list[dict[str, str]] = []
        self.occurrences: dict[tuple[str, str], int] = {}
        self.uids: dict[int, tuple[weakref.ref[Any], int]] = {}
        self.next_uid = 0
        self.stored_bytes = 0
        self.retained: dict[int, weakref.ref[Any]] = {}
        self.saved: dict[str, StoredTensor | str] = {}
        self.written = False

    # -- installation -----------------------------------------------------------------------------

    def start(self) -> Recorder:
        """Seed the process, watch for torch and numpy, and arrange for the record to be written."""
        random.seed(self.config.seed)
        callbacks: dict[str, Callable[[ModuleType], None]] = {}
        watched = (
            ("torch", self._on_torch),
            ("numpy", self._on_numpy),
            ("multiprocessing.process", self._on_multiprocessing),
        )
        for name, callback in watched:
            if name in sys.modules:
                callback(sys.modules[name])
            else:
                callbacks[name] = callback
        if callbacks:
            sys.meta_path.insert(0, _ImportWatcher(callbacks))
        if self.config.sites:
            setattr(builtins, ARG_HOOK, self.arg_site)
            setattr(builtins, INDEX_HOOK, self.index_site)
            setattr(builtins, VALUE_HOOK, self.value_site)
        previous_hook = sys.excepthook

        def excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
            self.note_exception(error)
            previous_hook(kind, error, tb)

        sys.excepthook = excepthook
        atexit.register(self.write)
        os.register_at_fork(after_in_child=self._reset)
        self._write_before_os_exit()
        return self

    def _write_before_os_exit(self) -> None:
        """Write the record from ``os._exit`` too: it skips atexit hooks.

        A process started by ``multiprocessing`` with fork (or forkserver) ends through ``os._exit``
        once its target returns (multiprocessing/popen_fork.py), as do hand-forked children.
        """
        exit_now = os._exit

        def _exit(status: int) -> NoReturn:
            try:
                self.write()
            except BaseException as error:  # the program asked to end now: end, whatever happened
                print(f"varmigrate: the gradient recorder could not write: {error!r}", file=sys.stderr)
            exit_now(status)

        os._exit = _exit

    def _on_multiprocessing(self, process: ModuleType) -> None:
        """Note the exception that ends a ``multiprocessing`` child's ``run()``.

        ``BaseProcess._bootstrap`` catches it, prints it and exits with status 1, so neither
        ``sys.excepthook`` nor the parent sees it (multiprocessing/process.py).
        """
        bootstrap = process.BaseProcess._bootstrap
        note = self.note_exception

        def _bootstrap(child: Any, *args: Any, **kwargs: Any) -> Any:
            run = child.run

            def noted_run() -> None:
                try:
                    run()
                except Exception as error:
                    note(error)
                    raise

            child.run = noted_run  # on the instance: subclasses override run()
            return bootstrap(child, *args, **kwargs)

        process.BaseProcess._bootstrap = _bootstrap

    def _on_numpy(self, numpy: ModuleType) -> None:
        try:
            numpy.random.seed(self.config.seed)
        except Exception as error:  # an exotic numpy must not break the program
            self.errors.append(f"seeding numpy: {error!r}")

    def _on_torch(self, torch: ModuleType) -> None:
        """Seed torch, make it deterministic, and hook the autograd engine."""
        self.torch = torch
        self._torch_dir = os.path.dirname(os.path.abspath(torch.__file__ or "")) + os.sep
        torch.manual_seed(self.config.seed)
        _deterministic(torch)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        variable = sys.modules["torch.autograd.variable"].Variable
        variable._execution_engine = _EngineProxy(variable._execution_engine, self)
        original_retain = torch.Tensor.retain_grad

        def retain_grad(tensor: Any) -> None:
            # Non-leaves are not reachable from the graph walk: remember them to read `.grad` later.
            # (`self.retained`, not a local: a forked child gets a fresh table.)
            self.retained[id(tensor)] = weakref.ref(tensor)
            original_retain(tensor)

        torch.Tensor.retain_grad = retain_grad
        module = torch.nn.Module
        # Modules made by copy.deepcopy or unpickling skip __init__ and go through __setstate__.
        module.__init__ = self._tracking(module.__init__, self._modules)
        module.__setstate__ = self._tracking(module.__setstate__, self._modules)
        torch.optim.Optimizer.__init__ = self._tracking(torch.optim.Optimizer.__init__, self._optimizers)
        original_save = torch.save

        def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                where = os.path.basename(f) if isinstance(f, (str, os.PathLike)) else type(f).__name__
                self._saved(f"saved #{len(self.saved)} {where}", obj, 0)
            except Exception as error:
                self.errors.append(f"recording torch.save: {error!r}")
            return original_save(obj, f, *args, **kwargs)

        self.torch.save = save
        if self.config.sites:
            self._install_legacy_api(torch)

    def _install_legacy_api(self, torch: ModuleType) -> None:
        """The baseline runs the legacy program: give removed APIs their PyTorch 0.3 meaning back."""
        import importlib.util

        try:
            spec = importlib.util.spec_from_file_location("_varmigrate_legacy_api", LEGACY_API)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.install(torch)
        except Exception as error:  # the program runs as it is; where it needed a shim it fails, and says so
            self.errors.append(f"installing the PyTorch 0.3 shims: {error!r}")

    def _tracking(
        self, method: Callable[..., None], table: weakref.WeakKeyDictionary[Any, int]
    ) -> Callable[..., None]:
        """``method`` (an ``__init__`` or ``__setstate__``) that also enters its object in ``table``."""

        def tracked(obj: Any, *args: Any, **kwargs: Any) -> None:
            method(obj, *args, **kwargs)
            if obj not in table:
                table[obj] = self._created
                self._created += 1
                self._modules_changed = True

        return tracked

    def _saved(self, key: str, obj: Any, depth: int) -> None:
        """Store the tensors of what ``torch.save`` writes (containers walked, modules by state_dict)."""
        torch = self.torch
        if isinstance(obj, torch.nn.Module):
            obj = obj.state_dict()
        if isinstance(obj, torch.Tensor):
            self.saved[key] = self._stored(obj)
        elif isinstance(obj, dict) and depth < 4:
            for name, value in obj.items():
                self._saved(f"{key}.{name}", value, depth + 1)
        elif isinstance(obj, (list, tuple)) and depth < 4:
            for index, value in enumerate(obj):
                self._saved(f"{key}.{index}", value, depth + 1)
        elif isinstance(obj, (int, float, str, bool)) or obj is None:
            self.saved[key] = repr(obj)

    # -- evidence (baseline only) -------------------------------------------------------------------

    def _site(self, site: int) -> dict[str, int]:
        counts = self.sites.get(site)
        if counts is None:
            counts = self.sites[site] = {"runs": 0}
        counts["runs"] += 1
        return counts

    def arg_site(self, site: int, value: Any) -> Any:
        """`Variable(__varmigrate_arg__(ID, x))`: note what `x` was; return it untouched."""
        counts = self._site(site)
        torch = self.torch
        if torch is None or not isinstance(value, torch.Tensor):
            key = "not_tensor"
        elif value.requires_grad:
            key = "requires_grad"
        elif type(value) is not torch.Tensor:
            key = "subclass"  # a Parameter or a tensor subclass: the shim returns a plain Tensor
        else:
            key = "plain_no_grad"
        counts[key] = counts.get(key, 0) + 1
        return value

    def index_site(self, site: int, data: Any) -> Any:
        """`__varmigrate_index__(ID, t.data)` for `t.data[0]` (and `t.numpy()` for `t.numpy()[0]`): 0.3's
        meaning on 0-dim tensors and arrays, else `[0]`."""
        counts = self._site(site)
        torch = self.torch
        if torch is not None and isinstance(data, torch.Tensor) and data.dim() == 0:
            # PyTorch 0.3 had no 0-dim tensors: `loss.data` had one element and `[0]` gave the number.
            counts["zero_dim"] = counts.get("zero_dim", 0) + 1
            return data.item()
        if type(data).__module__ == "numpy" and getattr(data, "ndim", None) == 0:
            # `t.numpy()[0]` (`__varmigrate_index__(ID, t.numpy())`): 0.3's 1-element array gave the
            # NumPy scalar, which `[()]` reads from today's 0-dim array (same type, same value).
            counts["zero_dim"] = counts.get("zero_dim", 0) + 1
            return data[()]
        counts["other"] = counts.get("other", 0) + 1
        return data[0]

    def value_site(self, site: int, value: Any) -> Any:
        """`__varmigrate_value__(ID, x)` for a receiver (`x.new(...)`, `x.type(T)`) or a softmax input:
        note what `x` was (its class, device and rank); return it untouched."""
        counts = self._site(site)
        torch = self.torch
        if torch is None or not isinstance(value, torch.Tensor):
            keys = ["not_tensor"]
        else:
            # Only these two: `new_*` and the dtype methods give the same result type as `new` and
            # `type(T)` on them (probed, torch 2.13); another subclass may override either method.
            # A subclass's `__torch_function__` also sees `dim=None` become `dim=1` in softmax.
            if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter:
                keys = ["subclass"]
            else:
                keys = ["tensor", f"rank_{value.dim()}"]
                if value.device.type == "cpu":
                    keys.append("cpu_tensor")
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        return value

    # -- recording ----------------------------------------------------------------------------------

    def on_backward(
        self, engine: Any, tensors: Sequence[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Walk the graph, run the engine, snapshot the gradients it produced."""
        depth = getattr(self.local, "depth", 0)
        options = dict(zip(_RUN_BACKWARD_ARGS, args, strict=False))
        options.update(kwargs)
        accumulate = bool(options.get("accumulate_grad", True))
        call: CallRecord | None = None
        leaves: dict[str, Any] = {}
        node_keys: dict[Any, str] = {}
        try:
            file, function, line = self._caller()
            with self.lock:
                occurrence = self.occurrences.get((file, function), 0)
                self.occurrences[(file, function)] = occurrence + 1
            call = CallRecord(
                seq=-1,
                kind="backward" if accumulate else "grad",
                file=file,
                function=function,
                line=line,
                occurrence=occurrence,
                depth=depth,
                roots=self._roots(tensors),
                leaves=[],
                retained=[],
                results=[],
                error=None,
            )
            if accumulate:
                leaves, node_keys = self._walk(tensors)
                leaves = self._only_inputs(leaves, options.get("inputs") or ())
        except Exception as error:
            self.errors.append(f"before backward: {error!r}")
        self.local.depth = depth + 1
        try:
            result = engine.run_backward(tensors, *args, **kwargs)
        finally:
            self.local.depth = depth
        if call is not None:
            try:
                self._snapshot(call, leaves, node_keys, result, accumulate)
            except Exception as error:
                call["error"] = repr(error)
            with self.lock:
                call["seq"] = len(self.calls)
                self.calls.append(call)
        return result

    def _roots(self, tensors: Sequence[Any]) -> list[StoredTensor | None]:
        edge_type = self.torch.autograd.graph.GradientEdge
        return [None if isinstance(t, edge_type) else self._store(t) for t in tensors]

    def _caller(self) -> tuple[str, str, int]:
        """The first frame outside torch, this module and its shims: (file relative to the root, function,
        line)."""
        frame: FrameType | None = sys._getframe(2)
        torch_dir = self._torch_dir
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith(torch_dir) and filename not in (__file__, LEGACY_API):
                break
            frame = frame.f_back
        if frame is None:
            return ("?", "?", 0)
        code = frame.f_code
        return (self._relative(code.co_filename), getattr(code, "co_qualname", code.co_name), frame.f_lineno)

    def _relative(self, filename: str) -> str:
        known = self._paths.get(filename)
        if known is not None:
            return known
        root = self.config.root + os.sep
        found = filename
        for candidate in (os.path.abspath(filename), _real(filename)):
            if candidate.startswith(root):
                found = candidate[len(root) :].replace(os.sep, "/")
                break
        self._paths[filename] = found
        return found

    def _walk(self, roots: Sequence[Any]) -> tuple[dict[str, Any], dict[Any, str]]:
        """Leaves reachable from ``roots`` by structural key, and every graph node's key.

        A node's key is its first-found breadth-first path ``root:Type/slot:Type/...``: equal for
        graphs of equal shape, whatever the objects, so the two runs' leaves pair up by key.
        """
        keys: dict[Any, str] = {}
        queue: list[tuple[Any, str, str]] = []
        leaves: dict[str, Any] = {}
        edge_type = self.torch.autograd.graph.GradientEdge
        for index, root in enumerate(roots):
            node = root.node if isinstance(root, edge_type) else root.grad_fn
            if node is None:
                if getattr(root, "requires_grad", False):
                    leaves[f"root{index}"] = root  # a leaf used directly as a root
                continue
            if node not in keys:
                kind = type(node).__name__
                keys[node] = path = f"{index}:{kind}"
                queue.append((node, path, kind))
        for node, path, kind in queue:  # the queue grows while it is read
            if kind == "AccumulateGrad":
                leaves[path] = node.variable
            for slot, (child, _) in enumerate(node.next_functions):
                if child is None or child in keys:
                    continue
                child_kind = type(child).__name__
                key = f"{path}/{slot}:{child_kind}"
                if len(key) > _KEY_LIMIT:
                    key = f"#{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}/{slot}:{child_kind}"
                keys[child] = key
                queue.append((child, key, child_kind))
        return leaves, keys

    def _only_inputs(self, leaves: dict[str, Any], inputs: Sequence[Any]) -> dict[str, Any]:
        """With ``backward(inputs=...)`` only those tensors accumulate gradients."""
        if not inputs:
            return leaves
        wanted = {id(t) for t in inputs}
        kept = {key: t for key, t in leaves.items() if id(t) in wanted}
        found = {id(t) for t in kept.values()}
        for index, tensor in enumerate(inputs):
            if id(tensor) not in found and isinstance(tensor, self.torch.Tensor):
                kept[f"input{index}"] = tensor  # a non-leaf input also accumulates into `.grad`
        return kept

    def _snapshot(
        self,
        call: CallRecord,
        leaves: dict[str, Any],
        node_keys: dict[Any, str],
        result: Any,
        accumulate: bool,
    ) -> None:
        if not accumulate:
            functorch = self.torch._C._functorch
            for grad in result:
                # autograd.grad(is_grads_batched=True) returns BatchedTensors: not copyable out of vmap.
                batched = grad is not None and (
                    functorch.is_batchedtensor(grad) or functorch.is_legacy_batchedtensor(grad)
                )
                call["results"].append(None if batched else self._store(grad))
            return
        for key, leaf in leaves.items():
            call["leaves"].append((key, self._uid(leaf), self._store(leaf.grad)))
        if self.retained:
            for ident, ref in list(self.retained.items()):
                tensor = ref()
                if tensor is None:
                    del self.retained[ident]
                elif tensor.grad_fn in node_keys:
                    call["retained"].append((node_keys[tensor.grad_fn], self._store(tensor.grad)))

    def _uid(self, leaf: Any) -> int:
        """Run-wide index of ``leaf`` in order of first appearance.

        ``id()`` values are reused once a tensor dies, so the entry is checked with a weakref, and the
        counter only grows (deriving it from the table size made numbers collide).
        """
        with self.lock:
            entry = self.uids.get(id(leaf))
            if entry is not None and entry[0]() is leaf:
                return entry[1]
            uid = self.next_uid
            self.next_uid += 1
            self.uids[id(leaf)] = (weakref.ref(leaf), uid)
        self.leaf_info[uid] = LeafInfo(
            name=self._parameter_name(leaf),
            shape=tuple(leaf.shape),
            dtype=str(leaf.dtype).removeprefix("torch."),
        )
        return uid

    def _parameter_name(self, leaf: Any) -> str:
        """``teacher.fc.weight`` for a module parameter (root module named by the variable holding it)."""
        if not isinstance(leaf, self.torch.nn.Parameter):
            return ""
        entry = self._names.get(id(leaf))
        if (entry is None or entry[0]() is not leaf) and self._modules_changed:
            self._name_parameters()
            entry = self._names.get(id(leaf))
        return entry[1] if entry is not None and entry[0]() is leaf else ""

    def _name_parameters(self) -> None:
        self._modules_changed = False
        modules = list(self._modules.keys())
        children = {id(child) for module in modules for child in module.children()}
        roots = [module for module in modules if id(module) not in children]
        bindings = _bindings(sys._getframe(1), {id(root) for root in roots})
        names: dict[int, tuple[weakref.ref[Any], str]] = {}
        for root in roots:
            prefix = bindings.get(id(root), type(root).__name__)
            for name, parameter in root.named_parameters():
                names.setdefault(id(parameter), (weakref.ref(parameter), f"{prefix}.{name}"))
        self._names = names

    def _store(self, tensor: Any) -> StoredTensor | None:
        """``tensor`` as plain data, whole while the run's budget lasts."""
        if tensor is None:
            return None
        stored = store(tensor, self.config.full_bytes if self.stored_bytes < RUN_BUDGET else 0)
        if stored["data"] is not None:
            self.stored_bytes += len(stored["data"])
        return stored

    # -- exit ---------------------------------------------------------------------------------------

    def note_exception(self, error: BaseException) -> None:
        """Remember the uncaught exception that ends the process."""
        self.exception = self._described(error)

    def note_caught(self, test: str, error: BaseException) -> None:
        """Remember an exception that a test runner caught and reported as a failed test."""
        self.caught.append({"test": test, **self._described(error)})

    def _described(self, error: BaseException) -> dict[str, str]:
        where = ""
        for frame, line in traceback.walk_tb(error.__traceback__):
            relative = self._relative(frame.f_code.co_filename)
            if not os.path.isabs(relative):
                where = f"{relative}:{frame.f_code.co_name}:{line}"
        return {"type": type(error).__qualname__, "message": str(error)[:2000], "where": where}

    def _leaks(self) -> list[str]:
        """Modules this process imported from the user's tree (an editable install, a sys.path entry)."""
        original = self.config.original
        if original is None or original == self.config.root:
            return []
        # The recorder and its sitecustomize live wherever varmigrate is installed: not a leak.
        allowed = (*self.config.shared, os.path.dirname(_real(__file__)))
        leaked = []
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not path:
                continue
            real = _real(path)
            if real.startswith(original + os.sep) and not any(real.startswith(a + os.sep) for a in allowed):
                leaked.append(real)
        return sorted(leaked)

    def record(self) -> ProcessRecord:
        """Everything recorded so far."""
        return ProcessRecord(
            format=FORMAT,
            argv=[_argv_item(a, self.config.root) for a in sys.argv],
            pid=self.pid,
            parent=self.parent,
            started_ns=self.started_ns,
            torch=self.torch is not None,
            calls=list(self.calls),
            leaves=dict(self.leaf_info),
            exception=self.exception,
            caught=list(self.caught),
            sites={site: dict(counts) for site, counts in self.sites.items()},
            leaked=self._leaks(),
            errors=list(self.errors),
            end_state=self._end_state() if self.calls else {},
        )

    def _end_state(self) -> dict[str, StoredTensor | str]:
        """Parameters and buffers of live modules, optimizer state, leaf flags, `__main__`'s tensors."""
        state: dict[str, StoredTensor | str] = {}
        try:
            self._end_modules(state)
            self._end_optimizers(state)
            for uid, ref in sorted((uid, ref) for ref, uid in self.uids.values()):
                leaf = ref()
                if leaf is not None:
                    name = self.leaf_info[uid]["name"] or f"#{uid}"
                    state[f"leaf {name}"] = f"requires_grad={leaf.requires_grad}, is_leaf={leaf.is_leaf}"
            main = sys.modules.get("__main__")
            for name, value in sorted(vars(main).items() if main is not None else ()):
                if isinstance(value, self.torch.Tensor):
                    state[f"global {name}"] = self._stored(value)
            state.update(self.saved)
        except Exception as error:
            self.errors.append(f"recording the end state: {error!r}")
        return state

    def _end_modules(self, state: dict[str, StoredTensor | str]) -> None:
        """Each root module's parameters and buffers, as ``module Linear#0.weight``."""
        modules = sorted(self._modules.items(), key=lambda item: item[1])
        children = {id(child) for module, _ in modules for child in module.children()}
        for prefix, root in _numbered(module for module, _ in modules if id(module) not in children):
            for name, tensor in (*root.named_parameters(), *root.named_buffers()):
                state[f"module {prefix}.{name}"] = self._stored(tensor)

    def _end_optimizers(self, state: dict[str, StoredTensor | str]) -> None:
        """Each optimizer's ``state_dict``: per-parameter state and hyperparameters."""
        optimizers = sorted(self._optimizers.items(), key=lambda item: item[1])
        for prefix, optimizer in _numbered(o for o, _ in optimizers):
            saved = optimizer.state_dict()
            for index, entries in sorted(saved["state"].items()):
                for name, value in sorted(entries.items()):
                    state[f"optimizer {prefix}.state.{index}.{name}"] = self._stored(value)
            for number, group in enumerate(saved["param_groups"]):
                for name, value in sorted(group.items()):
                    state[f"optimizer {prefix}.param_groups.{number}.{name}"] = self._stored(value)

    def _stored(self, value: Any) -> StoredTensor | str:
        """A tensor stored, anything else as its repr."""
        if isinstance(value, self.torch.Tensor):
            stored = self._store(value)
            assert stored is not None
            return stored
        return repr(value)

    def write(self) -> None:
        """Write the record (once, and only from the process that made it)."""
        if self.written or os.getpid() != self.pid:
            return
        self.written = True
        path = os.path.join(self.config.run_dir, f"{self.started_ns:020d}-{self.pid}.pkl")
        temporary = path + ".tmp"
        with open(temporary, "wb") as stream:
            pickle.dump(self.record(), stream, protocol=4)
        os.replace(temporary, path)


# str(torch.float32) -> "float32", computed once per dtype / layout (this runs for every leaf of every call).
_NAMES: dict[Any, str] = {}


def _name(value: Any) -> str:
    name = _NAMES.get(value)
    if name is None:
        name = _NAMES[value] = str(value).removeprefix("torch.")
    return name


def store(tensor: Any, full_bytes: int = FULL_BYTES) -> StoredTensor:
    """``tensor`` as plain data: its bytes up to ``full_bytes``, a digest with statistics above."""
    import torch

    layout = tensor.layout
    value = tensor.detach() if tensor.requires_grad else tensor
    if layout != torch.strided:
        value = value.to_dense()
    if value.dtype.is_complex:  # a lazily conjugated view holds the unconjugated bits
        value = value.resolve_conj().resolve_neg()
    if not value.is_cpu:
        value = value.cpu()
    if not value.is_contiguous():
        value = value.contiguous()
    size = value.nbytes
    stored = StoredTensor(
        dtype=_name(value.dtype),
        shape=tuple(value.shape),
        layout=_name(layout),
        data=None,
        digest=None,
        stats=None,
    )
    if size <= full_bytes:
        stored["data"] = ctypes.string_at(value.data_ptr(), size) if size else b""
        return stored
    view = (ctypes.c_char * size).from_address(value.data_ptr()) if size else b""
    stored["digest"] = hashlib.blake2b(memoryview(view), digest_size=16).hexdigest()
    if value.is_floating_point() or value.is_complex():
        number = value.abs().double() if value.is_complex() else value.double()
        finite = number[torch.isfinite(number)]
        stored["stats"] = {
            "mean": float(finite.mean()) if finite.numel() else float("nan"),
            "abs_max": float(finite.abs().max()) if finite.numel() else float("nan"),
            "nonfinite": float(number.numel() - finite.numel()),
        }
    return stored


def _deterministic(torch: ModuleType) -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without importing inductor now.

    The public function imports ``torch._inductor.config`` (about a second per process) only to set its
    ``deterministic`` flag, which matters to ``torch.compile`` alone (torch/__init__.py, torch 2.13); the
    flag is set when the program itself imports that config.
    """
    # warn_only: an op without a deterministic kernel warns instead of failing the run.
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    setter(True, warn_only=True)

    def inductor(config: Any) -> None:
        config.deterministic = True

    name = "torch._inductor.config"
    if name in sys.modules:
        inductor(sys.modules[name])
    else:
        sys.meta_path.insert(0, _ImportWatcher({name: inductor}))


def _argv_item(item: str, root: str) -> str:
    """A command-line word with the run's tree spelled ``<root>`` so both runs' words compare equal."""
    if root and (item == root or item.startswith(root + os.sep)):
        return "<root>" + item[len(root) :]
    real = _real(item) if os.sep in item else item
    if real.startswith(root + os.sep):
        return "<root>" + real[len(root) :]
    return item


def _numbered(objects: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """``("Linear#0", obj)``, ``("Linear#1", obj)``: each object named by its class and its rank in it."""
    seen: dict[str, int] = {}
    for obj in objects:
        kind = type(obj).__name__
        seen[kind] = seen.get(kind, -1) + 1
        yield f"{kind}#{seen[kind]}", obj


# Names that say nothing about which model a parameter belongs to.
_NOT_NAMES = frozenset({"self", "cls", "module", "m", "mod"})


def _bindings(frame: FrameType | None, wanted: set[int]) -> dict[int, str]:
    """Variable names that hold the objects in ``wanted``: innermost frames first, then their globals."""
    found: dict[int, str] = {}
    while frame is not None and len(found) < len(wanted):
        for scope in (frame.f_locals, frame.f_globals):
            for name, value in list(scope.items()):
                if id(value) in wanted and id(value) not in found and name not in _NOT_NAMES:
                    found[id(value)] = name
        frame = frame.f_back
    return found


_ACTIVE: Recorder | None = None
# pytest loads the plugins this variable names by module name; sitecustomize loads this module under it.
_PYTEST_PLUGINS = "PYTEST_PLUGINS"
_MODULE_NAME = "_varmigrate_recorder"


def activate(environ: os._Environ[str] | dict[str, str] | None = None) -> Recorder | None:
    """Start recording this process when the environment names a run directory."""
    global _ACTIVE
    environ = os.environ if environ is None else environ
    if _ACTIVE is not None or not environ.get(ENV_RUN):
        return _ACTIVE
    _ACTIVE = Recorder(_Config(environ)).start()
    if __name__ == _MODULE_NAME:  # set here, not by the runner: a process without the recorder has no plugin
        plugins = [p for p in environ.get(_PYTEST_PLUGINS, "").split(",") if p.strip()]
        if _MODULE_NAME not in plugins:
            environ[_PYTEST_PLUGINS] = ",".join([*plugins, _MODULE_NAME])
    return _ACTIVE


def pytest_runtest_makereport(item: Any, call: Any) -> None:
    """pytest hook: note the exception a test raised (pytest catches it; excepthook never sees it)."""
    excinfo = call.excinfo
    if _ACTIVE is None or excinfo is None:
        return
    # pytest.skip() and xfail outcomes are exceptions too (_pytest/outcomes.py); they are not failures.
    if type(excinfo.value).__name__ in {"Skipped", "XFailed"}:
        return
    _ACTIVE.note_caught(f"{item.nodeid} ({call.when})", excinfo.value)


def read_record(path: str) -> ProcessRecord:
    """Load one record file; only plain data is accepted (no classes are looked up)."""
    with open(path, "rb") as stream:
        record: ProcessRecord = _PlainUnpickler(stream).load()
    return record


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a varmigrate record")


__all__ = [
    "ARG_HOOK",
    "INDEX_HOOK",
    "VALUE_HOOK",
    "CallRecord",
    "LeafInfo",
    "ProcessRecord",
    "Recorder",
    "StoredTensor",
    "activate",
    "read_record",
    "store",
]
