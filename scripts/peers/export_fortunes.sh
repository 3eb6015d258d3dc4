#!/usr/bin/env bash
# Writes examples/data/fortunes.txt, the text corpus of examples/char_transformer.lua and of
# the transformer tests: the three files of Debian's fortunes-min package (fortune-mod 1.99.1,
# BSD licence, see /usr/share/doc/fortunes-min/copyright) joined in a fixed order, with the
# "%" separators between fortunes kept. Installs the package when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=/usr/share/games/fortunes
if [ ! -f "$dir/fortunes" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y --no-install-recommends fortunes-min >/dev/null
fi
# The "overstriking" in the files is backspace sequences (x^Hx); they are dropped so the
# corpus is plain text.
cat "$dir/fortunes" "$dir/literature" "$dir/riddles" | sed -e 's/.\x08//g' -e 's/\x08//g' >examples/data/fortunes.txt
echo "examples/data/fortunes.txt: $(wc -c <examples/data/fortunes.txt) bytes, sha256 $(sha256sum examples/data/fortunes.txt | cut -c1-16)"
