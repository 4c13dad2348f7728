#!/usr/bin/env bash
# What the spin checks share (sourced by tests/spin_test.sh and
# tests/spin_compat_test.sh): the tool check, a scratch directory, pan's
# settings, and verify().
#
#   source spin_lib.sh; spin_setup MODEL.pml
#   verify NAME pass|fail [SPIN_DEFINES...]...
#   spin_finish
#
# A missing spin or C compiler exits 77 (skipped), or 1 when
# MMSYNC_TEST_STRICT=1, as in CI.

CC=${CC:-cc}

# pan: exhaustive search (no bitstate, no hash compaction), state vectors
# compressed (-DCOLLAPSE), at most 2 GiB; a depth limit far above what the
# models need.
PAN_CFLAGS=(-w -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=2048)
PAN_RUN=(-m200000 -w24)

fails=0

# Checks the tools, copies MODEL into a scratch directory (removed at exit)
# and enters it.
spin_setup() {
	local model=$1 tool
	[[ -r $model ]] || { echo "$0: cannot read $model" >&2; exit 2; }
	for tool in spin "$CC"; do
		if ! command -v "$tool" >/dev/null; then
			if [[ ${MMSYNC_TEST_STRICT:-0} == 1 ]]; then
				echo "not ok - $tool is not installed (strict mode: apt-get install spin gcc)"
				exit 1
			fi
			echo "skipped: $tool is not installed (apt-get install spin)"
			exit 77
		fi
	done
	SPIN_MODEL=$(basename "$model")
	T=$(mktemp -d "${TMPDIR:-/tmp}/mmsync-spin.XXXXXX")
	trap 'rm -rf "$T"' EXIT
	cp "$model" "$T/$SPIN_MODEL"
	cd "$T" || exit 2
}

# verify NAME EXPECT SPIN_DEFINES...: EXPECT is "pass" (errors: 0 after a
# complete search) or "fail" (pan finds an error)
verify() {
	local name=$1 expect=$2 rc=0 out
	shift 2
	rm -f pan pan.* "$SPIN_MODEL.trail"
	if ! spin "$@" -a "$SPIN_MODEL" >spin.log 2>&1; then
		sed 's/^/#   /' spin.log
		echo "not ok - $name: spin -a failed"
		fails=$((fails + 1))
		return
	fi
	if ! "$CC" "${PAN_CFLAGS[@]}" -o pan pan.c >cc.log 2>&1; then
		sed 's/^/#   /' cc.log
		echo "not ok - $name: compiling pan failed"
		fails=$((fails + 1))
		return
	fi
	./pan "${PAN_RUN[@]}" >pan.log 2>&1 || rc=$?
	out=$(grep -E 'errors:|states, stored|transitions \(|total actual memory|elapsed time' pan.log |
		sed -E 's/^[[:space:]]+//; s/[[:space:]]+/ /g; s/^pan: //' | paste -sd';' -)
	echo "#   $name: $out"

	local errors
	errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' pan.log | tail -n1)
	if [[ -z $errors ]]; then
		sed 's/^/#   /' pan.log | tail -n 20
		echo "not ok - $name: pan gave no result (exit $rc)"
		fails=$((fails + 1))
		return
	fi
	if [[ $expect == pass ]]; then
		local why=""
		((errors == 0)) || why="pan found $errors error(s)"
		# anything that makes the search less than exhaustive
		# (after an error pan stops: not exhaustive either, but said already)
		if ((errors == 0)) &&
			{ grep -qE 'max search depth too small|out of memory|MEMLIM|Search not completed' pan.log ||
				! grep -q 'Full statespace search' pan.log; }; then
			why="the search was not exhaustive"
		fi
		if [[ -n $why ]]; then
			grep -E '^pan:|too small|out of memory|MEMLIM|not completed' pan.log | sed 's/^/#   /'
			if [[ -f $SPIN_MODEL.trail ]]; then
				echo "#   counterexample (spin -t -p -g):"
				spin "$@" -t -p -g "$SPIN_MODEL" 2>&1 | sed 's/^/#     /' | tail -n 300
			fi
			echo "not ok - $name: $why"
			fails=$((fails + 1))
		else
			echo "ok - $name"
		fi
	else
		if ((errors > 0)); then
			grep -E 'violated|invalid end' pan.log | head -n1 | sed 's/^/#   found: /'
			echo "ok - $name"
		else
			echo "not ok - $name: pan found no error in a broken variant"
			fails=$((fails + 1))
		fi
	fi
}

# Exit status of the whole run: 1 if any check failed.
spin_finish() {
	if ((fails)); then
		echo "$fails check(s) failed"
		exit 1
	fi
	echo "all spin checks passed"
}
