"""Finds import cycles between sibling modules of a crate (run by tools/check-deps.sh).

Every file is a module with a path (`commands::restore`); a file's references are the
module paths it names — `crate::a::b`, `super::x` (resolved against its own path), and
`use` groups under them — outside its test module (`#[cfg(test)]` closes every file here,
and tests may reach anywhere). For each parent, its children are linked when anything in
one names anything in the other; a cycle among children is reported. A child naming its own
parent is how Rust modules share their parent's items, and is not counted.
Prints each cycle and exits 1 if there is one.
"""
import os
import re
import sys


def modules(src):
    """Module path (tuple) -> file, for every .rs file under a crate's src."""
    out = {}
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        base = () if rel == "." else tuple(rel.split(os.sep))
        for f in files:
            if not f.endswith(".rs"):
                continue
            stem = f[:-3]
            if stem in ("lib", "main") and not base:
                path = ()
            elif stem == "mod":
                path = base
            else:
                path = base + (stem,)
            out[path] = os.path.join(root, f)
    return out


PATH = r"((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)"


def references(path, text, known):
    """Known module paths that a module's text names."""
    text = text[: text.find("#[cfg(test)]")] if "#[cfg(test)]" in text else text
    text = re.sub(r"//[^\n]*", "", text)
    named = []
    for m in re.finditer(r"\b(crate|super)::" + PATH, text):
        root, rest = m.group(1), m.group(2).split("::")
        base = () if root == "crate" else path[:-1]
        named.append(base + tuple(rest))
    for m in re.finditer(r"\buse (crate|super)::((?:[a-z_][a-z0-9_]*::)*)\{([^}]*)\}", text):
        root, prefix, group = m.group(1), m.group(2), m.group(3)
        base = (() if root == "crate" else path[:-1]) + tuple(p for p in prefix.split("::") if p)
        named += [base + tuple(item.split("::")) for item in re.findall(PATH, group)]
    found = set()
    for n in named:
        while n and n not in known:
            n = n[:-1]
        if n:
            found.add(n)
    return found


def sibling_cycles(mods):
    graph = {}
    for path, f in mods.items():
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        for target in references(path, text, mods):
            # The nearest common parent's two children on the way to each module.
            common = 0
            while common < min(len(path), len(target)) and path[common] == target[common]:
                common += 1
            if common >= len(path) or common >= len(target):
                continue  # one is inside the other
            a, b = path[: common + 1], target[: common + 1]
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    return strongly_connected(graph), graph


def strongly_connected(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


status = 0
for src in sys.argv[1:]:
    comps, graph = sibling_cycles(modules(src))
    for comp in comps:
        status = 1
        name = lambda p: "::".join(p)
        detail = "; ".join(f"{name(m)} -> {', '.join(name(t) for t in sorted(graph[m] & set(comp)))}" for m in comp)
        print(f"check-deps: {src}: modules import each other in a cycle: {detail}", file=sys.stderr)
if status == 0:
    print(f"check-deps: no import cycle between sibling modules in {' '.join(sys.argv[1:])}")
sys.exit(status)
