#!/usr/bin/env python3
"""check_rooms.py - the include arrows of engine/ and mux/ go one way.

engine/ is in rooms: core/ <- server/ <- client/ <- the top files
(engine.c, main.c, host.c, reload.c, srvctl.c). A file may include headers
of its own room and of the rooms below it, never above. engine/sluice.h is
the public contract under every room: it includes no header of the tree,
and any file may include it. mux/, pool/ and
sched/ never include engine/; and no set of headers and sources includes
itself back in a circle (checked per file, over the quoted #include lines
of the whole tree). Exits 1 and names each offending line.

With --lib, the same arrows are checked on the calls themselves, over the
objects of the static libsluice (named by room: core_*.c.o, server_*.c.o,
client_*.c.o, the top files by their own names, mux/pool/sched's without a
prefix): a symbol a room's object uses must be defined in its own room or
below, and mux/, pool/ and sched/ use none of engine/'s. An upward call
hidden behind an include-free `extern` declaration shows here.

usage: check_rooms.py SOURCE_ROOT [--lib LIBSLUICE.a]
"""
import os
import re
import subprocess
import sys

# Rank of each room: a file may include a header of equal or lower rank.
ROOMS = {'engine/core': 0, 'engine/server': 1, 'engine/client': 2, 'engine': 3}
PUBLIC = 'engine/sluice.h'

LIBS = ('mux', 'pool', 'sched')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def room_of(path):
    """Returns the room rank of an engine/ path, or None outside engine/."""
    if path == PUBLIC:
        return -1
    return ROOMS.get(os.path.dirname(path))


def resolve(root, src, inc):
    """Returns the tree-relative path an #include "inc" of <src> names, or
    None when it is not a file of the tree (a system header in quotes)."""
    for cand in (inc, os.path.join(os.path.dirname(src), inc)):
        cand = os.path.normpath(cand)
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def scan(root):
    """Returns {file: [(line, included file)]} for every .c/.h of the
    checked directories."""
    graph = {}
    for top in ('engine',) + LIBS:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith(('.c', '.h')):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                edges = []
                with open(os.path.join(root, rel), encoding='utf-8') as f:
                    for no, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m:
                            tgt = resolve(root, rel, m.group(1))
                            if tgt:
                                edges.append((no, tgt))
                graph[rel] = edges
    return graph


def arrow_errors(graph):
    """Returns one message per include that goes up a room or from a
    library into engine/."""
    errs = []
    for src, edges in sorted(graph.items()):
        for no, tgt in edges:
            if src.split('/')[0] in LIBS and tgt.startswith('engine/'):
                errs.append(f'{src}:{no}: {src.split("/")[0]}/ includes {tgt}')
                continue
            if src == PUBLIC:
                errs.append(f'{src}:{no}: the public header includes {tgt}')
                continue
            rs, rt = room_of(src), room_of(tgt)
            if rs is not None and rt is not None and rt > rs:
                errs.append(f'{src}:{no}: includes {tgt}, a room above')
    return errs


def cycle_errors(graph):
    """Returns one message per include circle found (depth-first search)."""
    errs, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for _, m in graph.get(n, []):
            if state.get(m) == 1:
                errs.append('include circle: ' + ' -> '.join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return errs


TOP_OBJS = ('engine.c.o', 'host.c.o', 'reload.c.o', 'srvctl.c.o', 'main.c.o')
OBJ_PREFIX = {'core_': 0, 'server_': 1, 'client_': 2}


def obj_room(name):
    """Returns the room rank of an object of libsluice, -1 for mux/, pool/
    and sched/ (which may use no engine/ symbol)."""
    if name in TOP_OBJS:
        return 3
    for prefix, rank in OBJ_PREFIX.items():
        if name.startswith(prefix):
            return rank
    return -1


def call_errors(lib):
    """Returns one message per symbol an object of <lib> uses that is
    defined by an object of a higher room (nm -A over the archive)."""
    out = subprocess.run(['nm', '-A', lib], capture_output=True, text=True, check=True).stdout
    defined, used = {}, []
    for line in out.splitlines():
        # "lib.a:obj.o:<value> T name" or "lib.a:obj.o:  U name"
        head, _, rest = line.rpartition(':')
        obj = head.rsplit(':', 1)[-1]
        parts = rest.split()
        if len(parts) == 3 and parts[1] in 'TDBRCGS':
            defined[parts[2]] = obj
        elif len(parts) == 2 and parts[0] == 'U':
            used.append((obj, parts[1]))
    errs = []
    for obj, sym in sorted(set(used)):
        where = defined.get(sym)
        if where is None:
            continue
        ro, rd = obj_room(obj), obj_room(where)
        if (ro < 0 and rd >= 0) or (ro >= 0 and rd > ro):
            errs.append(f'{obj} uses {sym}, defined in {where}, a room above')
    if not defined:
        errs.append(f'no symbols read from {lib}')
    return errs


def main():
    args = sys.argv[1:]
    lib = None
    if '--lib' in args:
        i = args.index('--lib')
        lib = args[i + 1]
        del args[i:i + 2]
    root = args[0] if args else '.'
    if lib:
        errs = call_errors(lib)
        for e in errs:
            print(e)
        print(f'{lib}: {len(errs)} upward calls')
        return 1 if errs else 0
    graph = scan(root)
    if not any(p.startswith('engine/') for p in graph):
        print(f'no engine/ sources under {root}')
        return 1
    errs = arrow_errors(graph) + cycle_errors(graph)
    for e in errs:
        print(e)
    print(f'{len(graph)} files, {sum(len(e) for e in graph.values())} includes, '
          f'{len(errs)} errors')
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main())
