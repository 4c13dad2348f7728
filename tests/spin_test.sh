#!/usr/bin/env bash
# Model checks the read protocol (tests/protocol.pml) with spin: the model
# must verify exhaustively, and every deliberately broken variant must fail.
# usage: tests/spin_test.sh [PROTOCOL.pml]
# Exit 0: all as expected; 1: a check failed; 77: spin or a C compiler is
# missing (a failure instead when MMSYNC_TEST_STRICT=1, as in CI).
set -euo pipefail

[[ $# -le 1 ]] || { echo "usage: $0 [PROTOCOL.pml]" >&2; exit 2; }
MODEL=${1:-$(dirname "$0")/protocol.pml}
[[ -r $MODEL ]] || { echo "$0: cannot read $MODEL" >&2; exit 2; }
# verify(), the tool check and pan's settings: tests/spin_lib.sh.
# shellcheck source=SCRIPTDIR/spin_lib.sh
source "$(dirname "$0")/spin_lib.sh"
spin_setup "$MODEL"

# The correct model takes ~20.5 M states, ~27 s, ~950 MB; the whole run
# ~50 s (3 s of it for each compile of pan).

verify "protocol verifies (readers die, grace period evicts)" pass
verify "without grace period: no stale read, no wait on a dead reader" pass -DNO_GRACE
verify "without grace period, vi loaded relaxed (any value)" pass -DNO_GRACE -DANY_VI
verify "broken: reader loads li before arriving" fail -DBROKEN=1
verify "broken: writer skips the first wait" fail -DBROKEN=2
verify "broken: eviction does not bump slot.evictions" fail -DBROKEN=3
verify "broken: no arrival generation (ABA)" fail -DBROKEN=4
verify "broken: writer does not probe dead readers" fail -DBROKEN=5 -DNO_GRACE
# 6 and 7 need 3 publishes (and one reader): the defaults (NR=2, NW=4) have them
verify "broken: writer trusts a reading of an earlier arrival (no n-match)" fail -DBROKEN=6
verify "broken: reader stores reading before it loads li (stale copy)" fail -DBROKEN=7
verify "broken: writer notes arrivals before its store of li" fail -DBROKEN=8
# The lifecycle (CONFIGURATIONS in protocol.pml): one reader and 4 writes
# (the defaults with these switches), or two readers and 2 writes without
# death nor grace period; each verifies in a few seconds (at most 4.3 M
# states), all of them in ~15 s.
verify "generations committed at publish (growing writes may fail or abort)" pass -DGEN
verify "generations, and readers revoked when a GENERATION send fails" pass -DGEN -DREVOKE
verify "two readers: generations, revocation (no death, no grace period)" pass -DGEN -DREVOKE -DNR=2 -DNW=2 -DNO_DEATH -DNO_GRACE
verify "revoked readers: reads stay protected, later read_begin fails" pass -DREVOKE
verify "table slots reused: reclaim by compare-and-swap, a new owner" pass -DREUSE
verify "table slots reused, no grace period: no wait on a dead owner" pass -DREUSE -DNO_GRACE
verify "fenceless readers; barrier may fail (revoke while it is down)" pass -DFENCELESS
verify "fenced and fenceless readers, set-up racing the barrier's failure" pass -DFENCELESS -DNR=2 -DNW=2 -DNO_DEATH -DNO_GRACE
verify "fenceless readers revoked" pass -DFENCELESS -DREVOKE
verify "fenceless owners of a reused table slot" pass -DFENCELESS -DREUSE
verify "broken: generation committed at prepare (a new reader: -EBADMSG)" fail -DGEN -DBROKEN=9
verify "broken: a live reader's slot dropped on a connection event" fail -DREVOKE -DBROKEN=10
verify "broken: reclaim clears arrived unconditionally (new owner's arrival)" fail -DREUSE -DBROKEN=11
verify "broken: failed barrier counted as done (fenceless reader torn)" fail -DFENCELESS -DBROKEN=12
verify "broken: new generation's path misses the revoked mark (-EBADMSG)" fail -DGEN -DREVOKE -DBROKEN=13
verify "broken: revocation bumps the count before it sets the mark" fail -DREVOKE -DBROKEN=14

if ((fails)); then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all spin checks passed"
