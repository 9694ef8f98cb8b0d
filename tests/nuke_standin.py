"""A minimal stand-in for Nuke's `nuke` module, and a reader of .gizmo / .nk text, for the Nuke tests.

Nuke is proprietary and cannot be installed here, so the node's Python runs against this: nodes
with knobs and inputs, `createNode` building a gizmo from its file on the plugin path (running its
onCreate), temporary Writes that "render" by copying the EXR frames of the Read upstream, a progress
task, main-thread calls run at once. Every call the code makes on the module is recorded in
``calls``. Nothing here renders pixels: the matte itself comes from the real bgmatte core.
"""
from __future__ import annotations

import re
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------- reading .gizmo / .nk text

_ESCAPES = {"n": "\n", "t": "\t"}


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: "word", "quoted" (unescaped), "braced" (raw inner text), "newline"."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(("newline", "\n"))
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#" and (i == 0 or text[i - 1] == "\n"):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif c == '"':
            i += 1
            chars = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    chars.append(_ESCAPES.get(text[i], text[i]))
                else:
                    chars.append(text[i])
                i += 1
            out.append(("quoted", "".join(chars)))
            i += 1
        elif c == "{":
            depth, start = 1, i + 1
            i += 1
            while depth:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                i += 1
            out.append(("braced", text[start:i - 1]))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "{}":
                i += 2 if text[i] == "\\" else 1
            out.append(("word", re.sub(r"\\(.)", r"\1", text[start:i])))
    return out


@dataclass
class UserKnob:
    """One ``addUserKnob {TYPE name options...}`` line."""

    type_id: int
    name: str
    options: dict[str, str] = field(default_factory=dict)
    menu: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class ParsedNode:
    """A node of a script: its class, knob lines in order, user knobs and (for groups) children."""

    cls: str
    knobs: dict[str, str] = field(default_factory=dict)
    user_knobs: list[UserKnob] = field(default_factory=list)
    children: list[ParsedNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.knobs.get("name", "")

    def child(self, name: str) -> ParsedNode:
        return next(node for node in self.children if node.name == name)


def _user_knob(body: str) -> UserKnob:
    parts = [value for kind, value in _tokens(body) if kind != "newline"]
    knob = UserKnob(type_id=int(parts[0]), name=parts[1])
    i = 2
    while i < len(parts):
        if parts[i][:1] in "+-" and len(parts[i]) > 1 and not parts[i][1:].isdigit():
            knob.flags.append(parts[i])
            i += 1
        elif parts[i] == "M":
            knob.menu = [value for kind, value in _tokens(parts[i + 1]) if kind != "newline"]
            i += 2
        else:
            knob.options[parts[i]] = parts[i + 1]
            i += 2
    return knob


def _node(cls: str, body: str) -> ParsedNode:
    node = ParsedNode(cls)
    parts = [(kind, value) for kind, value in _tokens(body) if kind != "newline"]
    for (_, name), (kind, value) in zip(parts[0::2], parts[1::2]):
        if name == "addUserKnob":
            node.user_knobs.append(_user_knob(value))
        else:
            node.knobs[name] = "{" + value + "}" if kind == "braced" else value
    return node


def parse_script(text: str) -> list[ParsedNode]:
    """The top-level nodes of .nk / .gizmo text; nodes between a group and end_group are its children."""
    statements, line = [], []
    for kind, value in _tokens(text):
        if kind == "newline":
            if line:
                statements.append(line)
            line = []
        else:
            line.append((kind, value))
    if line:
        statements.append(line)
    top: list[ParsedNode] = []
    groups: list[ParsedNode] = []
    for statement in statements:
        if statement[0][1] == "end_group":
            groups.pop()
        elif len(statement) == 2 and statement[1][0] == "braced":
            node = _node(statement[0][1], statement[1][1])
            (groups[-1].children if groups else top).append(node)
            if node.cls in ("Group", "Gizmo"):
                groups.append(node)
    return top


def gizmo_wiring(text: str) -> dict[str, tuple[ParsedNode, list[str]]]:
    """A gizmo's internal nodes by name: (parsed node, its input nodes' names, input 0 first).

    Follows the node stack as Nuke does (``set`` / ``push``; the top of the stack is input 0); an
    Input or Read node takes no input unless its ``inputs`` knob says otherwise, any other node one.
    """
    statements, line = [], []
    for kind, value in _tokens(text):
        if kind == "newline":
            statements, line = (statements + [line]) if line else statements, []
        else:
            line.append((kind, value))
    stack, variables, nodes, inside = [], {}, {}, False
    for statement in statements:
        words = [value for _, value in statement]
        if words[0] == "Gizmo":
            inside = True
        elif not inside:
            continue
        elif words[0] == "set":
            variables[words[1]] = stack[-1]
        elif words[0] == "push":
            stack.append(variables[words[1].lstrip("$")])
        elif words[0] == "end_group":
            break
        elif len(statement) == 2 and statement[1][0] == "braced":
            node = _node(words[0], statement[1][1])
            count = int(node.knobs.get("inputs", "0" if node.cls in ("Input", "Read") else "1"))
            nodes[node.name] = (node, [stack.pop() for _ in range(count)])
            stack.append(node.name)
    return nodes


# ---------------------------------------------------------------- the stand-in module

_DEFAULTS = {1: "", 2: "", 3: 0, 6: False, 7: 0.0, 26: ""}


class Knob:
    """A knob holding a value; PyScript knobs run their script on execute()."""

    def __init__(self, nuke: types.ModuleType, name: str, value=None, script: str = "") -> None:
        self._nuke, self._name, self._value, self.script = nuke, name, value, script
        self.executed = 0

    def name(self) -> str:
        return self._name

    def value(self):
        return self._value

    getValue = value

    def setValue(self, value) -> bool:
        self._value = value
        return True

    def evaluate(self) -> str:
        return str(self._value)

    def execute(self) -> None:
        self.executed += 1
        if self.script:
            exec(compile(self.script, f"<knob {self._name}>", "exec"), {"nuke": self._nuke})


class Node:
    """A node: class, knobs by name, connected inputs, and (gizmos) its internal nodes."""

    def __init__(self, nuke: types.ModuleType, cls: str, name: str) -> None:
        self._nuke, self._cls = nuke, cls
        self._knobs: dict[str, Knob] = {}
        self._inputs: dict[int, Node] = {}
        self._children: list[Node] = []
        self.add_knob("name", name)
        self.add_knob("disable", False)

    def add_knob(self, name: str, value=None, script: str = "") -> Knob:
        self._knobs[name] = Knob(self._nuke, name, value, script)
        return self._knobs[name]

    def Class(self) -> str:
        return self._cls

    def name(self) -> str:
        return self._knobs["name"].value()

    fullName = name

    def knob(self, name: str):
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"{self.name()} has no knob {name}")
        return self._knobs[name]

    def input(self, index: int):
        return self._inputs.get(index)

    def setInput(self, index: int, node) -> bool:
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def dependencies(self, *_):
        return [self._inputs[i] for i in sorted(self._inputs)]

    def node(self, name: str):
        return next((n for n in self._children if n.name() == name), None)

    def nodes(self) -> list:
        return list(self._children)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


class ProgressTask:
    """Records progress; ``cancel_after`` progress updates it reports cancellation."""

    cancel_after: int | None = None
    instances: list = []

    def __init__(self, title: str) -> None:
        self.title, self.progress, self.messages = title, [], []
        type(self).instances.append(self)

    def setProgress(self, value: int) -> None:
        self.progress.append(value)

    def setMessage(self, text: str) -> None:
        self.messages.append(text)

    def isCancelled(self) -> bool:
        return self.cancel_after is not None and len(self.progress) >= self.cancel_after


def _frame_file(pattern: str, frame: int) -> Path:
    return Path(re.sub("#+", lambda m: f"{frame:0{len(m.group())}d}", pattern))


def make_nuke(gui: bool = False) -> types.ModuleType:
    """A fresh stand-in `nuke` module. Upstream "Read" nodes made with ``nuke.nodes.Read(file=...,
    first=..., last=...)`` feed temporary Writes, which copy their input's frame files (held
    outside first..last) when executed."""
    nuke = types.ModuleType("nuke")
    nuke.calls = []
    nuke.messages = []
    nuke.plugin_paths = []
    nuke.frame_callbacks = []
    nuke.env = {"gui": gui}
    nuke.EXE_PATH = ""
    nuke.ProgressTask = type("ProgressTask", (ProgressTask,), {"instances": [], "cancel_after": None})
    nuke.all_nodes = []
    state = {"this": None, "frame": 1001}
    root = Node(nuke, "Root", "root")
    for name, value in (("first_frame", 1001), ("last_frame", 1100), ("colorManagement", "OCIO"),
                        ("OCIO_config", "aces_1.2"), ("customOCIOConfigPath", ""),
                        ("workingSpaceLUT", "ACES - ACEScg")):
        root.add_knob(name, value)

    def record(name):
        def wrap(function):
            def call(*args, **kwargs):
                nuke.calls.append((name, args, kwargs))
                return function(*args, **kwargs)
            setattr(nuke, name, call)
            return function
        return wrap

    @record("root")
    def _root():
        return root

    @record("thisNode")
    def _this_node():
        return state["this"]

    nuke.set_this_node = lambda node: state.__setitem__("this", node)
    nuke.set_frame = lambda frame: state.__setitem__("frame", frame)

    @record("frame")
    def _frame():
        return state["frame"]

    def make_node(cls: str, **knobs) -> Node:
        node = Node(nuke, cls, knobs.pop("name", f"{cls}{len(nuke.all_nodes) + 1}"))
        for name, value in knobs.items():
            node.add_knob(name, value)
        if cls == "Read":
            node.add_knob("reload")
        nuke.all_nodes.append(node)
        return node

    nuke.nodes = types.SimpleNamespace(Write=lambda **k: make_node("Write", **k),
                                       Read=lambda **k: make_node("Read", **k))

    @record("createNode")
    def _create_node(cls: str):
        path = next(Path(p) / f"{cls}.gizmo" for p in nuke.plugin_paths if (Path(p) / f"{cls}.gizmo").is_file())
        parsed = parse_script(path.read_text())[0]
        node = make_node(cls, name=f"{cls}1")
        for knob in parsed.user_knobs:
            default = knob.menu[0] if knob.menu else _DEFAULTS.get(knob.type_id)
            node.add_knob(knob.name, default, script=knob.options.get("T", "") if knob.type_id == 22 else "")
        for name, value in parsed.knobs.items():
            if name in node.knobs() and name != "name":
                current = node[name].value()
                node[name].setValue(value == "true" if isinstance(current, bool) else
                                    int(value) if isinstance(current, int) else value)
        for child in parsed.children:
            inner = Node(nuke, child.cls, child.name)
            for name, value in child.knobs.items():
                inner.add_knob(name, value) if name != "name" else None
            if child.cls == "Read":
                inner.add_knob("reload")
            node._children.append(inner)
        node.add_knob("onCreate", parsed.knobs.get("onCreate", ""), script=parsed.knobs.get("onCreate", ""))
        previous = state["this"]
        state["this"] = node
        try:
            node["onCreate"].execute()
        finally:
            state["this"] = previous
        return node

    def render(write: Node, first: int, last: int) -> None:
        upstream = write.input(0)
        for frame in range(first, last + 1):
            target = _frame_file(write["file"].value(), frame)
            target.parent.mkdir(parents=True, exist_ok=True)
            held = min(max(frame, upstream["first"].value()), upstream["last"].value())  # Read: before/after hold
            shutil.copyfile(_frame_file(upstream["file"].value(), held), target)

    @record("execute")
    def _execute(write, first, last, incr=1):
        render(write, first, last)

    @record("executeMultiple")
    def _execute_multiple(writes, ranges):
        for first, last, _ in ranges:
            for write in writes:
                render(write, first, last)

    @record("delete")
    def _delete(node):
        nuke.all_nodes.remove(node)

    @record("executeInMainThread")
    def _main_thread(call, args=(), kwargs=None):
        call(*args, **(kwargs or {}))

    @record("message")
    def _message(text):
        nuke.messages.append(text)

    @record("pluginAddPath")
    def _plugin_add_path(path, addToSysPath=True):
        nuke.plugin_paths.append(path)

    @record("addBeforeFrameRender")
    def _add_before_frame_render(call, args=(), kwargs=None, nodeClass="Write"):
        nuke.frame_callbacks.append(call)

    nuke.ui_callbacks = []

    @record("addUpdateUI")
    def _add_update_ui(call, args=(), kwargs=None, nodeClass="*"):
        nuke.ui_callbacks.append(call)

    @record("scriptOpen")
    def _script_open(path):
        root["name"].setValue(path)

    @record("allNodes")
    def _all_nodes(filter=None, group=None, recurseGroups=False):
        return [n for n in nuke.all_nodes if filter is None or n.Class() == filter]

    class Menu:
        def __init__(self, name):
            self.name = name

        def addCommand(self, *args, **kwargs):
            nuke.calls.append((f"menu({self.name}).addCommand", args, kwargs))

    @record("menu")
    def _menu(name):
        return Menu(name)

    return nuke


def install(monkeypatch, gizmo_root: Path, gui: bool = False) -> types.ModuleType:
    """Put a fresh stand-in in sys.modules as `nuke`, the Nuke folder on sys.path, and forget any
    `bgmatte_nuke` imported before (so module state such as the render check starts clean)."""
    nuke = make_nuke(gui)
    monkeypatch.setitem(sys.modules, "nuke", nuke)
    monkeypatch.syspath_prepend(str(gizmo_root))
    for name in [m for m in sys.modules if m == "bgmatte_nuke" or m.startswith("bgmatte_nuke.")]:
        monkeypatch.delitem(sys.modules, name)
    return nuke
