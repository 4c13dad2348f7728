/* SPDX-License-Identifier: MIT */
/*
 * WAKE: the native writer wakes the readers that sleep until a new version
 * (docs/protocol.md, "Waking readers"), at each publish, from the slot scan
 * that publish_scan() makes anyway, after the store of the header's seq.
 *
 * A reader that sleeps first says so in its own slot's wait word, with the
 * seq it has, then loads seq again (WAIT-ARM, WAIT-RECHECK). The writer
 * stores seq, then loads the words (both seq_cst): it sees the flag, or the
 * reader sees the new seq. With no reader waiting a publish makes no system
 * call: one load per slot, of a line the scan loads anyway.
 *
 * Two ways to sleep, two wakes:
 *   WAIT_FUTEX  mmsync_wait(): a futex on the low half of seq. One
 *               FUTEX_WAKE wakes every sleeper; a slot that claims to wait
 *               and does not costs that one wake per publish, no more.
 *   WAIT_FD     the descriptor of mmsync_reader_fd(): a WAKE message on the
 *               reader's connection, sent without blocking, one per arm:
 *               the flag is cleared first by a compare-and-swap of the
 *               whole word, so that a re-arm made meanwhile stays (a plain
 *               store would lose no wake-up either: the message answers the
 *               arm it wipes out; tests/wake.pml -DPLAIN_STORE). A full
 *               socket is not retried: its reader has messages to read, its
 *               descriptor is readable already.
 */
#include <stdatomic.h>

#include "fdpass.h"
#include "native_writer.h"

/* Slot @ws's wait word @w, not 0, at publish number nw->seq. */
void wake_armed(struct native_writer *nw, struct wslot *ws, uint64_t w, bool *futex)
{
	for (int tries = 0; w; tries++) {
		if (w >> WAIT_SEQ_SHIFT >= nw->seq)
			return; /* it has this version already */
		if (w & WAIT_FUTEX)
			*futex = true;
		if (!(w & WAIT_FD) || ws->kind != SLOT_OWN || ws->conn < 0)
			return;
		/* The reader re-arms only between its reads: a word that keeps
		 * changing is not an honest reader's, and gets its message. */
		if (tries < 2 && !atomic_compare_exchange_strong(&ws->s->wait, &w, w & ~(uint64_t)WAIT_FD))
			continue;
		struct native_msg m;
		fill_msg(nw, &m, NATIVE_MSG_WAKE);
		if (fdpass_send(ws->conn, &m, sizeof(m), NULL, 0) == 0)
			atomic_fetch_add_explicit(&nw->h->wake_msgs, 1, memory_order_relaxed);
		return;
	}
}

void wake_futex(struct native_writer *nw)
{
	futex_wake_all(low_half(&nw->h->seq));
	atomic_fetch_add_explicit(&nw->h->futex_wakes, 1, memory_order_relaxed);
}

/* The writer closes: sleepers look again, and find it gone. */
void wake_all_closing(struct native_writer *nw)
{
	futex_wake_all(low_half(&nw->h->seq));
}
