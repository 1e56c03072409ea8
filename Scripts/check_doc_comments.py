#!/usr/bin/env python3
"""Lists public (and open) declarations in the library targets that have no doc comment.

A declaration counts as documented when the nearest non-attribute line above it is a `///`
line. Members of a documented type are listed too: every public name an app sees should say
what it is. Exit status 1 when any is missing (make check-docs).
"""
import pathlib
import re
import sys

LIBRARIES = ["NLTensor", "NLVideo", "NLModels", "NLTrain"]
DECL = re.compile(r"^\s*(public|open)\s+(?!import)(?:(?:static|final|mutating|nonmutating|indirect|override|convenience|required|nonisolated|lazy)\s+)*"
                  r"(func|var|let|struct|enum|class|protocol|typealias|init|subscript|actor|case)\b")
missing = []
for target in LIBRARIES:
    for path in sorted(pathlib.Path("Sources", target).glob("*.swift")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not DECL.match(line):
                continue
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("@"):
                j -= 1
            if j < 0 or not lines[j].strip().startswith("///"):
                missing.append(f"{path}:{i + 1}: {line.strip()[:100]}")
print("\n".join(missing))
print(f"{len(missing)} public declarations without a doc comment", file=sys.stderr)
sys.exit(1 if missing else 0)
