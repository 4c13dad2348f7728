#!/bin/sh
# SPDX-License-Identifier: MIT
# The protocol is written up once, in docs/protocol.md, and its steps are
# named there in bold (**ARRIVE**). Each step of the native layout must be
# named in tests/protocol.pml and in the code (src/, include/), each step of
# the compat layout in tests/compat.pml, each step of waking readers in
# tests/wake.pml, and in the code: a step renamed or dropped on one side
# only fails here.
#
#   protocol_steps_test.sh SOURCE_ROOT
set -eu
root=${1:?usage: $0 SOURCE_ROOT}
doc=$root/docs/protocol.md
code=$(cat "$root"/src/*.c "$root"/src/*.h "$root"/include/*.h)
fail=0

# Bold step names of the part of the document between two headings.
steps() {
	sed -n "/^## $1/,/^## $2/p" "$doc" | grep -o '\*\*[A-Z][A-Z-]*\*\*' | tr -d '*' | sort -u
}

# A whole name: not a part of a longer one (REVOKE is not REVOKE-FENCELESS).
named() {
	printf '%s\n' "$2" | grep -Eq "(^|[^A-Z-])$1([^A-Z-]|\$)"
}

check() {
	layout=$1 model=$2 list=$3
	[ -n "$list" ] || { echo "no $layout steps found in $doc" >&2; fail=1; return; }
	for s in $list; do
		named "$s" "$(cat "$model")" || { echo "$layout step $s: not in $model" >&2; fail=1; }
		named "$s" "$code" || { echo "$layout step $s: not in src/ or include/" >&2; fail=1; }
	done
	echo "$layout: $(echo $list | wc -w) steps, each in $(basename "$model") and the code"
}

check native "$root/tests/protocol.pml" "$(steps 'Native layout' 'Compat layout')"
check compat "$root/tests/compat.pml" "$(steps 'Compat layout' 'Waking readers')"
check wake "$root/tests/wake.pml" "$(steps 'Waking readers' 'END')"
exit $fail
