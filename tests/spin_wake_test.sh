#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Model checks how the native writer wakes sleeping readers (tests/wake.pml):
# no lost wake-up and no spinning, for futex and descriptor readers, in
# several configurations; every broken variant must fail; two orders that
# look wrong but are not must verify. usage: tests/spin_wake_test.sh [WAKE.pml]
# Exit 0: all as expected; 1: a check failed; 77: spin or a C compiler is
# missing (a failure instead when MMSYNC_TEST_STRICT=1, as in CI).
set -euo pipefail

[[ $# -le 1 ]] || { echo "usage: $0 [WAKE.pml]" >&2; exit 2; }
MODEL=${1:-$(dirname "$0")/wake.pml}
# shellcheck source=SCRIPTDIR/spin_lib.sh
source "$(dirname "$0")/spin_lib.sh"
spin_setup "$MODEL"

# Defaults: 3 publishes, a futex reader and a descriptor reader (~0.5 M
# states, under a second). Three readers and 3 publishes need 2.7-5.7 GB
# and 1-3.5 min (wake.pml, CONFIGURATIONS): with three, 2 publishes.
verify "wake: no lost wake-up, no spinning (a futex and a descriptor reader)" pass
verify "wake: 4 publishes" pass -DNP=4
verify "wake: two futex readers and a descriptor reader, 2 publishes" pass -DNFX=2 -DNP=2
verify "wake: two descriptor readers" pass -DNFX=0 -DNFD=2
verify "wake: two futex readers" pass -DNFX=2 -DNFD=0
verify "wake: DRAIN takes one message" pass -DDRAIN_ONE
# The searches below take under a second: pan compiled without
# optimisation, which compiles 4 times faster.
PAN_CFLAGS=("${PAN_CFLAGS[@]/#-O2/-O0}")
# Both bounds are tight: 2 * NP - 2 is refuted.
verify "bound: a futex reader can return 2 * NP - 1 times" fail -DFX_BOUND=4
verify "bound: a descriptor reader can wake 2 * NP - 1 times" fail -DFD_BOUND=4
# Not broken (wake.pml's header says why).
verify "not broken: the futex reader arms after its re-check" pass -DFX_ARM_LATE
verify "not broken: the writer clears FD with a plain store, no CAS" pass -DPLAIN_STORE
verify "broken: the descriptor reader skips WAIT-RECHECK" fail -DBROKEN=1
verify "broken: the writer runs WAKE before PUBLISH" fail -DBROKEN=2
verify "broken: the futex reader sleeps without the kernel's compare" fail -DBROKEN=3
verify "broken: the descriptor reader arms after WAIT-RECHECK" fail -DBROKEN=4
verify "broken: no re-arm after a spurious wake-up (spins)" fail -DBROKEN=5
verify "broken: DRAIN after WAIT-RECHECK" fail -DBROKEN=6
verify "broken: DRAIN leaves the self-wake (spins)" fail -DBROKEN=7

spin_finish
