#!/usr/bin/env python3
"""Reports C++ function bodies longer than a line limit, from the source text alone.

  scripts/function_sizes.py [--max-lines N] FILE...

Prints "path:line: function 'name' has L lines (limit N)" per violation and
exits 1 if there is any. L counts as clang-tidy's readability-function-size
does: the line of the body's closing brace minus the line of its opening brace.

Why a lexer and not clang-tidy: clang-tidy parses every translation unit with
all its headers, 14.5 minutes of CI's two cores; this reads each file once, a
few seconds for the whole tree, and needs no build. It relies on the
code being well-formed C++ (the compiler has checked that), and decides what a
brace opens from the tokens before it:
  - namespace, extern "C", class, struct and union bodies hold definitions;
  - a brace after a declarator - "name(...)" with no "=" before it, optionally
    followed by qualifiers, a trailing return type or a constructor's member
    initialisers - opens a function body; so does a lambda's outside functions
    (in a member initialiser, say), which clang-tidy does not measure;
  - every other brace outside a function (an enum, an initialiser) is skipped.
Braces inside a function body belong to it, lambdas included.
"""
import re
import sys

TOKEN = re.compile(r"""
    (?P<newline>\n)
  | (?P<space>[ \t\r\f\v]+|\\\n)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>(?:u8|[uUL])?R"(?P<delim>[^()\\\s]{0,16})\()
  | (?P<string>(?:u8|[uUL])?"(?:\\.|[^"\\\n])*")
  | (?P<char>(?:u8|[uUL])?'(?:\\.|[^'\\\n])+')
  | (?P<number>\.?\d(?:'?[\w.]|[eEpP][+-])*)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<punct>::|->|\.\.\.|.)
""", re.VERBOSE | re.DOTALL)

CLASS_KEYS = {"class", "struct", "union"}
NOT_DECLARATORS = (["decltype"], ["alignas"], ["__attribute__"], ["__declspec"])
LAMBDA_BODY_AFTER = {")", "]", "mutable", "noexcept", "constexpr"}


def tokens(text):
    """Yields (kind, value, line) for code tokens; drops comments, and
    preprocessor lines and literals, whose braces are not code."""
    line, pos, at_line_start = 1, 0, True
    while pos < len(text):
        m = TOKEN.match(text, pos)
        kind, value = m.lastgroup, m.group(0)
        if kind == "delim":
            kind = "raw"
        if kind == "raw":
            end = text.find(")" + m.group("delim") + '"', m.end())
            value = text[pos:end + len(m.group("delim")) + 2]
        elif at_line_start and value == "#":
            value = re.match(r"#(?:[^\n\\]|\\.)*", text[pos:], re.DOTALL).group(0)
            kind = "preprocessor"
        pos += len(value)
        if kind in ("word", "punct", "number"):
            yield (kind, value, line)
        elif kind in ("string", "char", "raw"):
            yield ("literal", '""', line)
        line += value.count("\n")
        if kind == "newline":
            at_line_start = True
        elif kind not in ("space", "comment"):
            at_line_start = False


def merge_operators(head):
    """Joins "operator" and its symbol ("operator", "=", "=") into one token,
    so that its "=", "<" or "()" is not read as an initialiser or a bracket."""
    out, i = [], 0
    while i < len(head):
        if head[i] == "operator" and i + 1 < len(head):
            j = i + 1
            if head[j] == "(":
                j += 2  # operator()
            else:
                while j < len(head) and head[j] != "(" and not re.match(r"\w", head[j]):
                    j += 1
                if j == i + 1:
                    j += 1  # operator new, operator bool, ...
            out.append("operator" + "".join(head[i + 1:j]))
            i = j
        else:
            out.append(head[i])
            i += 1
    return out


def strip_prefix(head):
    """Drops what may precede a declaration: template <...>, [[attributes]], typedef."""
    i = 0
    while i < len(head):
        if head[i] == "template" and head[i + 1:i + 2] == ["<"]:
            depth, i = 0, i + 1
            while i < len(head):
                depth += {"<": 1, ">": -1}.get(head[i], 0)
                i += 1
                if depth == 0:
                    break
        elif head[i] == "typedef":
            i += 1
        elif head[i:i + 2] == ["[", "["]:
            while i < len(head) and head[i:i + 2] != ["]", "]"]:
                i += 1
            i += 2
        else:
            break
    return head[i:]


def classify(head):
    """What a "{" opens outside any function, from `head`, the tokens since
    the last ";", "{", "}" or access label. Returns (kind, name), kind being
    scope, class, function, nested (a brace inside parentheses, or a member
    initialiser) or other (an initialiser, an enum)."""
    core = strip_prefix(merge_operators(head))
    if not core:
        return "other", None
    if core[0] == "namespace" or (core[:2] in (["inline", "namespace"], ["extern", '""']) and len(core) <= 2):
        return "scope", None
    if core[0] in CLASS_KEYS:
        return "class", None
    if core[0] == "enum":
        return "other", None
    paren = angle = 0
    name, ctor_init = None, False
    for i, tok in enumerate(core):
        if tok == "(":
            if paren == 0 and angle == 0 and name is None and core[i - 1:i] not in NOT_DECLARATORS:
                name = core[i - 1] if i > 0 else "?"
                if i > 1 and core[i - 2] == "~":
                    name = "~" + name
            paren += 1
        elif tok == ")":
            paren -= 1
        elif paren == 0 and tok == "<" and i > 0 and re.match(r"[\w>]", core[i - 1]):
            angle += 1
        elif paren == 0 and tok == ">" and angle > 0:
            angle -= 1
        elif paren == 0 and angle == 0 and tok == "=" and name is None:
            return "other", None
        elif paren == 0 and angle == 0 and tok == ":" and name is not None:
            ctor_init = True
    if paren > 0 or (ctor_init and re.match(r"[\w>]", core[-1])):
        return "nested", None
    if name is None:
        return "other", None
    return "function", name


def function_sizes(text):
    """Yields (name, first_line, lines) for every function body in `text`,
    lines counted from its "{" to its "}"."""
    stack = []  # per open brace: (kind, name, first line, keeps the head)
    head, prev = [], None
    in_function = False  # a "function" entry is on the stack (never more than one)
    for kind, value, line in tokens(text):
        if value == "{":
            if in_function:
                stack.append(("block", None, line, True))
            else:
                opened, name = classify(head)
                in_expression = bool(stack) and stack[-1][0] in ("nested", "other")
                keeps_head = opened == "nested" or in_expression
                if opened in ("nested", "other") and prev in LAMBDA_BODY_AFTER:
                    opened, name = "function", "operator()"
                elif in_expression:
                    opened, name = "other", None
                stack.append((opened, name, line, keeps_head))
                in_function = opened == "function"
                if not keeps_head:
                    head = []
        elif value == "}":
            if not stack:
                raise ValueError(f"line {line}: unbalanced '}}'")
            opened, name, first, keeps_head = stack.pop()
            if opened == "function":
                in_function = False
                yield name, first, line - first
            if not in_function:
                # A brace inside a declaration (an initialiser, a lambda
                # argument) leaves the declaration going on; any other ends it.
                head = head + ["}"] if keeps_head else []
        elif in_function:
            pass
        elif value == ";" or (value == ":" and head in (["public"], ["private"], ["protected"])):
            head = []
        else:
            head.append(value)
        prev = value
    if stack:
        raise ValueError(f"unclosed '{{' from line {stack[-1][2]}")


def main(argv):
    max_lines, files = 70, []
    args = iter(argv)
    for a in args:
        if a == "--max-lines":
            max_lines = int(next(args))
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            files.append(a)
    if not files:
        print("usage: scripts/function_sizes.py [--max-lines N] FILE...", file=sys.stderr)
        return 2
    found = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            for name, first, lines in function_sizes(text):
                if lines > max_lines:
                    print(f"{path}:{first}: function '{name}' has {lines} lines (limit {max_lines})")
                    found += 1
        except ValueError as e:
            print(f"{path}: cannot read its braces: {e}", file=sys.stderr)
            return 2
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
