#!/usr/bin/env bash
# The line limit of .swift-format ("lineLength"), kept by every Swift file of Sources, Tests,
# Examples and Fuzz: lists the lines over it and fails if there are any (make test runs it).
# Generated data tables (BitmapFontData.swift) are exempt.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$(python3 -c 'import json; print(json.load(open(".swift-format"))["lineLength"])')
over=$(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Examples/*.swift' 'Fuzz/*.swift' ':!Sources/NLVideo/BitmapFontData.swift' \
       | xargs awk -v n="$limit" '{ if (length($0) > n) printf "%s:%d: %d columns\n", FILENAME, FNR, length($0) }')
if [ -n "$over" ]; then
  echo "$over"
  echo "lines over $limit columns (.swift-format lineLength): $(echo "$over" | wc -l)"
  exit 1
fi
echo "line length: every line within $limit columns"
