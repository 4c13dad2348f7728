#!/bin/sh
# man/render.sh SCDOC IN OUT: IN (scdoc) as roff in OUT.
# - scdoc turns hyphenation and justification off before .TH, which turns
#   them back on: they are turned off again after it, so that no function
#   name is broken across two lines;
# - the hyphens in bold (options, commands, errors: --no-reset,
#   stat --socket, -EINVAL) are written \-, where no line is broken either.
set -eu
"$1" <"$2" >"$3.tmp"
sed '/^\.TH /a .nh\n.ad l' "$3.tmp" |
	perl -pe 's/\\fB([^\\]*-[^\\]*)\\fR/"\\fB" . ($1 =~ s{-}{\\-}gr) . "\\fR"/ge' >"$3"
rm -f "$3.tmp"
