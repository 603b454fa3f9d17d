#!/usr/bin/env python3
"""call-cycles.py BUILD_DIR [PREFIX] - the call cycles between the server's
source files, read off the object files: file A calls file B when A's
object has an undefined symbol that B's object defines (nm).  Prints each
cycle (a strongly connected component of more than one file) and the
layer-to-layer calls, then exits 1 if any cycle is found."""
import os, subprocess, sys
from collections import defaultdict

build = sys.argv[1]
prefix = sys.argv[2] if len(sys.argv) > 2 else "server/"
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
objs = {}
for root, _, files in os.walk(build):
    for f in files:
        if not f.endswith(".c.o"):
            continue
        path = os.path.join(root, f)
        marker = ".dir/" + prefix
        if marker not in path.replace("\\", "/"):
            continue
        name = path.split(marker, 1)[1][:-2]  # server-relative source name
        if not os.path.exists(os.path.join(src, prefix, name)):
            continue  # left in a reused build tree by a file that moved
        objs[name] = path

defs, undefs = {}, defaultdict(set)
for name, path in objs.items():
    out = subprocess.run(["nm", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            defs[parts[2]] = name
        elif len(parts) == 2 and parts[0] == "U":
            undefs[name].add(parts[1])

edges = defaultdict(set)
for a, syms in undefs.items():
    for s in syms:
        b = defs.get(s)
        if b and b != a:
            edges[a].add(b)

# Tarjan's strongly connected components
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(objs):
    if v not in index:
        visit(v)

layer = lambda n: n.rsplit("/", 1)[0] if "/" in n else "(top)"
calls = defaultdict(set)
for a, bs in edges.items():
    for b in bs:
        if layer(a) != layer(b):
            calls[layer(a)].add(layer(b))
print("layer calls:")
for a in sorted(calls):
    print(f"  {a} -> {', '.join(sorted(calls[a]))}")
print(f"{len(objs)} files, {sum(len(v) for v in edges.values())} file-to-file calls, {len(sccs)} cycles")
for c in sccs:
    print("  cycle: {" + ", ".join(c) + "}")
sys.exit(1 if sccs else 0)
