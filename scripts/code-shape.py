#!/usr/bin/env python3
"""The shape of the code at one or more git revisions, side by side:

    scripts/code-shape.py 7002f0c HEAD

lines per crate, public items and public fields of lpa-core, functions over
80 lines, `Result<_, String>` and `serde_json::Value` in lpa-core and
lpa-drivers outside tests, and repeated blocks in non-test code (pairs of
six or more lines of the same shape, as the `duplicates` tool finds them,
when it is on PATH). Each revision is read from `git archive`, so the work
tree is not touched.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

CRATES = {"lpa-core": "core/src", "lpa-drivers": "drivers/src", "lpa (binary)": "src"}


def rust_files(root, sub):
    for base, _, files in os.walk(os.path.join(root, sub)):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(base, f)


def test_start(lines):
    """The line index where a file's `#[cfg(test)]` module starts."""
    for i, l in enumerate(lines):
        if l.strip() == "#[cfg(test)]":
            return i
    return len(lines)


def non_test(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    return lines[: test_start(lines)]


def long_functions(lines, limit=80):
    """Functions whose body (from `fn` to its closing brace) exceeds limit."""
    out = []
    i = 0
    fn_re = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
    while i < len(lines):
        m = fn_re.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = re.sub(r'"([^"\\]|\\.)*"', '""', lines[j].split("//")[0])
            code = re.sub(r"'([^'\\]|\\.)'", "''", code)
            if not started and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            started = started or "{" in code
            if started and depth <= 0:
                break
            j += 1
        n = j - i + 1
        if started and n > limit:
            out.append((m.group(6), n))
        i = j + 1 if started else i + 1
    return out


def shape(root):
    row = {}
    for crate, sub in CRATES.items():
        total = 0
        for p in rust_files(root, sub):
            with open(p, encoding="utf-8") as f:
                total += f.read().count("\n")
        row[f"lines: {crate}"] = total
    items = fields = 0
    item_re = re.compile(r"^\s*pub\s+(fn|struct|enum|trait|const|static|type|mod|use|unsafe fn|const fn)\b")
    field_re = re.compile(r"^\s*pub\s+\w+\s*:")
    for p in rust_files(root, "core/src"):
        for l in non_test(p):
            if item_re.match(l):
                items += 1
            elif field_re.match(l):
                fields += 1
    row["lpa-core public items"] = items
    row["lpa-core public fields"] = fields
    longs = []
    for sub in CRATES.values():
        for p in rust_files(root, sub):
            longs += [(os.path.relpath(p, root), f, n) for f, n in long_functions(non_test(p))]
    row["functions over 80 lines"] = len(longs)
    strings = values = 0
    for sub in ("core/src", "drivers/src"):
        for p in rust_files(root, sub):
            text = "\n".join(non_test(p))
            strings += len(re.findall(r"Result<[^;{]*?,\s*String>", text))
            json_value = re.search(r"use serde_json::(Value|\{[^}]*\bValue\b)", text)
            for l in text.split("\n"):
                if re.match(r"^\s*pub\s+\w+\s*:", l) and (
                    "serde_json::Value" in l or (json_value and re.search(r"\bValue\b", l))
                ):
                    values += 1
    row["Result<_, String> (core, drivers)"] = strings
    row["pub fields of serde_json::Value (core, drivers)"] = values
    all_pairs, substantive = repeated(root)
    row["repeated blocks (non-test)"] = all_pairs
    row["  of which not boilerplate"] = substantive
    return row, longs


def repeated(root):
    tool = shutil.which("duplicates")
    if not tool:
        return "n/a", "n/a"
    out = subprocess.run(
        [tool, "--repo", root, "--most", "200", "--seconds", "120"],
        capture_output=True, text=True,
    ).stdout
    starts = {}
    count = substantive = 0
    for line in out.splitlines():
        m = re.match(r"^D\d+ (\S+):(\d+)-\d+ ~ (\S+):(\d+)-\d+", line)
        if not m:
            continue
        sides = [(m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))]
        def in_test(path, line_no):
            if path.startswith(("tests/", "core/tests/", "core/benches/", "fuzz/", "bench/", "fixtures/")):
                return True
            if path not in starts:
                full = os.path.join(root, path)
                with open(full, encoding="utf-8") as f:
                    starts[path] = test_start(f.read().split("\n")) + 1
            return line_no >= starts[path]
        if not any(in_test(p, n) for p, n in sides):
            count += 1
            if "boilerplate" not in line:
                substantive += 1
    return count, substantive


def main():
    revs = sys.argv[1:] or ["HEAD"]
    columns = []
    for rev in revs:
        tmp = tempfile.mkdtemp(prefix="lpa-shape-")
        archive = subprocess.run(["git", "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        columns.append(shape(tmp))
        shutil.rmtree(tmp)
    keys = list(columns[0][0].keys())
    width = max(len(k) for k in keys)
    print(f"{'':{width}}  " + "  ".join(f"{r:>12}" for r in revs))
    for k in keys:
        print(f"{k:{width}}  " + "  ".join(f"{str(c[0][k]):>12}" for c in columns))
    for rev, (_, longs) in zip(revs, columns):
        print(f"\nfunctions over 80 lines at {rev}:")
        for path, name, n in sorted(longs, key=lambda x: -x[2]):
            print(f"  {n:4}  {path} {name}")


if __name__ == "__main__":
    main()
