# SPDX-License-Identifier: LGPL-2.1-or-later
"""The source tree keeps its architecture: dependencies between the folders of src/ point
downwards only (cli -> {agent, image, release, boot} -> sysupdate -> base; the four middle
folders do not use each other), there is no cycle between folders, and none between files.

A file depends on what it includes (`#include "..."`). x.c and x.h are one module x; x depends on
y if x.c or x.h includes y.h. A header may also declare what other modules define (cli.h for
the verbs, repart-plan.h): including it and using such a name depends on the module that
defines it, so a cycle cannot hide behind a shared header."""
import re
from collections import defaultdict

from conftest import ROOT

SRC = ROOT / "src"
# Lower rank = further down. A folder may use its own files and any folder of lower rank.
RANK = {"base": 0, "sysupdate": 1, "crypt": 1, "agent": 2, "image": 2, "release": 2, "boot": 2, "cli": 3}
# Module cycles that are being removed, each with the change that removes it. A cycle found is
# excused only when all its modules are listed in one entry. Keep this empty.
KNOWN_CYCLES = []

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
IDENT = re.compile(r"[A-Za-z_]\w*")


def sources(src):
    return sorted(p for p in src.rglob("*") if p.suffix in (".c", ".h"))


def module(src, path):
    """'agent/resource' for src/agent/resource.c and src/agent/resource.h."""
    return str(path.relative_to(src).with_suffix(""))


def folder(mod):
    return mod.split("/")[0]


def includes(src, path):
    """The files path includes with quotes, resolved: "base/log.h" from src/, "log.h" beside."""
    out = []
    for name in INCLUDE.findall(path.read_text()):
        target = src / name if "/" in name else path.parent / name
        assert target.exists(), f"{path}: #include \"{name}\" names no file"
        out.append(target)
    return out


def strip_c(text):
    """Without comments, string and character literals and preprocessor lines."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\\n])*"|\'(\\.|[^\'\\\n])*\'', '""', text)
    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)


def strip_attributes(s):
    while (i := s.find("__attribute__")) >= 0:
        j, depth = s.index("(", i), 0
        for k in range(j, len(s)):
            depth += {"(": 1, ")": -1}.get(s[k], 0)
            if depth == 0:
                break
        s = s[:i] + " " + s[k + 1:]
    return s


def declared_name(stmt):
    """The function or variable a top-level declaration or definition names, or None."""
    stmt = strip_attributes(stmt).strip()
    words = IDENT.findall(stmt)
    if not words or words[0] in ("typedef", "static") or (words[0] == "inline"):
        return None
    head = stmt.split("=")[0]
    if "(" in head:
        m = re.search(r"([A-Za-z_]\w*)\s*\(", head)
        return m.group(1) if m else None
    if words[0] in ("struct", "enum", "union") and len(IDENT.findall(head)) <= 2:
        return None  # a type, or its forward declaration
    names = IDENT.findall(re.sub(r"\[[^\]]*\]", "", head))
    return names[-1] if names else None


def top_level(path):
    """(definitions, declarations): the non-static functions and variables path defines (with a
    body or an initializer) and the ones it only declares."""
    text = strip_c(path.read_text())
    defs, decls, stmt, depth = set(), set(), "", 0
    for ch in text:
        if depth > 0:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            continue
        if ch == "{":
            name = declared_name(stmt)
            if name:
                defs.add(name)
            stmt, depth = "", 1
        elif ch == ";":
            name = declared_name(stmt)
            if name:
                (defs if "=" in stmt and "(" not in stmt.split("=")[0] else decls).add(name)
            stmt = ""
        else:
            stmt += ch
    return defs, decls


def module_graph(src=SRC):
    """(modules, graph, why): graph[x] is the set of modules x depends on; why[x, y] names the
    include that makes it so."""
    files = sources(src)
    mods = {module(src, p) for p in files}
    owner = {}
    for p in files:
        if p.suffix == ".c":
            for name in top_level(p)[0]:
                owner[name] = module(src, p)
    # What each header declares that another module defines.
    foreign = {}
    for p in files:
        if p.suffix == ".h":
            m = module(src, p)
            foreign[m] = {n for n in top_level(p)[1] if owner.get(n, m) != m}

    graph = defaultdict(set)
    why = {}
    for p in files:
        x = module(src, p)
        used = set(IDENT.findall(strip_c(p.read_text())))
        for target in includes(src, p):
            y = module(src, target)
            for z, name in [(y, None)] + [(owner[n], n) for n in sorted(foreign[y] & used)]:
                if z != x:
                    graph[x].add(z)
                    how = f"{p.relative_to(src)} includes {target.relative_to(src)}"
                    why.setdefault((x, z), how + (f" for {name}()" if name else ""))
    return mods, graph, why


def cycles(nodes, graph):
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def test_every_file_is_in_a_known_folder():
    files = sources(SRC)
    assert len(files) > 50, f"only {len(files)} source files under {SRC}"
    for p in files:
        rel = p.relative_to(SRC)
        assert len(rel.parts) == 2 and rel.parts[0] in RANK, f"src/{rel}: not in one of {sorted(RANK)}"


def upward(graph, why):
    return [f"{x} -> {y} ({why[x, y]})" for x in sorted(graph) for y in sorted(graph[x])
            if folder(x) != folder(y) and RANK[folder(y)] >= RANK[folder(x)]]


def folder_cycles(graph):
    fgraph = defaultdict(set)
    for x, ys in graph.items():
        fgraph[folder(x)] |= {folder(y) for y in ys if folder(y) != folder(x)}
    return cycles(RANK, fgraph)


def test_dependencies_point_downwards():
    _, graph, why = module_graph()
    bad = upward(graph, why)
    assert bad == [], "dependencies pointing upwards or sideways:\n" + "\n".join(bad)


def test_no_cycle_between_folders():
    _, graph, _ = module_graph()
    assert folder_cycles(graph) == []


def test_no_cycle_between_files():
    mods, graph, why = module_graph()
    found = cycles(mods, graph)
    detail = []
    for comp in found:
        edges = [f"  {x} -> {y} ({why[x, y]})" for x in comp for y in sorted(graph[x]) if y in comp]
        detail.append(" <-> ".join(comp) + "\n" + "\n".join(edges))
    new = [c for c in found if not any(set(c) <= known for known in KNOWN_CYCLES)]
    assert new == [], "cycles between files:\n" + "\n".join(detail)
    gone = [sorted(k) for k in KNOWN_CYCLES if not any(set(c) & k for c in found)]
    assert gone == [], f"no longer a cycle, remove it from KNOWN_CYCLES: {gone}"


def write_tree(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_sees_hidden_cycles_and_upward_dependencies(tmp_path):
    """The checker itself fails where it must: the resource.c <-> resource-url.c cycle as it was
    (the core's header declared the kind's loader), an upward and a sideways include."""
    src = write_tree(tmp_path, {
        "agent/resource.h": "struct resource;\nint resource_load(void);\nint resource_load_url(struct resource *r);\n"
                            "int resource_add_instance(struct resource *r, const char *name);\n",
        "agent/resource.c": '#include "resource.h"\n'
                            "int resource_load(void) {\n        return resource_load_url(0);\n}\n"
                            "int resource_add_instance(struct resource *r, const char *name) {\n        return 0;\n}\n",
        "agent/resource-url.c": '#include "resource.h"\n'
                                "static int add(void) {\n        return resource_add_instance(0, \"x\");\n}\n"
                                "int resource_load_url(struct resource *r) {\n        return add();\n}\n",
        "agent/vacuum.c": '#include "resource.h"\n#include "base/log.h"\nint vacuum(void) {\n        return resource_load();\n}\n',
        "base/log.h": '#include "agent/vacuum.h"\nint log_open(void);\n',
        "base/log.c": '#include "log.h"\nint log_open(void) {\n        return 0;\n}\n',
        "agent/vacuum.h": "int vacuum(void);\n",
        "image/repart.c": '#include "agent/vacuum.h"\n',
    })
    mods, graph, why = module_graph(src)
    assert cycles(mods, graph) == [["agent/resource", "agent/resource-url"], ["agent/vacuum", "base/log"]]
    assert why["agent/resource", "agent/resource-url"] == \
        "agent/resource.c includes agent/resource.h for resource_load_url()"
    assert "agent/resource-url" not in graph["agent/vacuum"]  # it uses resource_load() only
    assert upward(graph, why) == ["base/log -> agent/vacuum (base/log.h includes agent/vacuum.h)",
                                  "image/repart -> agent/vacuum (image/repart.c includes agent/vacuum.h)"]
    assert folder_cycles(graph) == [["agent", "base"]]
    assert declared_name("int fail_at(const char *f) __attribute__((format(printf, 1, 2)))") == "fail_at"
    assert declared_name("extern const struct resource_kind resource_kind_partition") == "resource_kind_partition"
    assert declared_name("static int fail_at(const char *f) ") is None
    assert declared_name("struct partition_table") is None
