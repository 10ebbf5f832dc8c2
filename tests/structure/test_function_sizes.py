#!/usr/bin/env python3
"""Checks scripts/function_sizes.py, the structure check's function counter:
it finds every function body in tests/structure/fixture.cpp with clang-tidy's
line count, and flags a body one line over the limit but not one at it."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "scripts", "function_sizes.py")
FIXTURE = os.path.join(ROOT, "tests", "structure", "fixture.cpp")

EXPECTED = [  # (line of "{", name, lines from "{" to "}")
    (13, "Point", 2), (16, "operator==", 3), (20, "operator=", 3), (25, "get", 2),
    (44, "make_adder", 4), (51, "operator()", 3), (55, "Holder", 2), (59, "trailing", 5),
    (66, "operator()", 2), (71, "c_function", 2), (76, "quote", 2), (80, "digits", 2),
    (84, "counted", 2),
]


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)


def check_fixture():
    out = run("--max-lines", "0", FIXTURE)
    assert out.returncode == 1, out
    found = []
    for line in out.stdout.splitlines():
        _, lineno, rest = line.split(":", 2)
        name = rest.split("'")[1]
        lines = int(rest.split(" has ")[1].split()[0])
        found.append((int(lineno), name, lines))
    assert found == EXPECTED, f"got {found}"


def body(lines):
    return "int f() {\n" + "  x();\n" * (lines - 1) + "}\n"


def check_limit():
    with tempfile.TemporaryDirectory() as d:
        at, over = os.path.join(d, "at.cpp"), os.path.join(d, "over.cpp")
        open(at, "w").write(body(70))
        open(over, "w").write(body(71))
        assert run(at).returncode == 0
        out = run(over)
        assert out.returncode == 1 and "function 'f' has 71 lines (limit 70)" in out.stdout, out
        broken = os.path.join(d, "broken.cpp")
        open(broken, "w").write("int f() {\n")
        out = run(broken)
        assert out.returncode == 2 and "unclosed" in out.stderr, out


check_fixture()
check_limit()
print("function_sizes: ok")
