/* SPDX-License-Identifier: MIT */
/*
 * wake.pml: a Promela model of how the native writer wakes the readers that
 * sleep until a new version: mmsync_wait() on a futex, and the descriptor
 * of mmsync_reader_fd() (src/native_wake.c, src/reader_wait.c). Checked by
 * tests/spin_wake_test.sh.
 *
 * WHAT IS MODELLED
 *   Shared words: seq         the header's publish counter (0 at first),
 *                             the futex word
 *                 wait[s]     slot s's wait word: wait_seq << 2 | FD | FUTEX
 *   Per reader:   asleep[r]   r sleeps in the futex
 *                 msgs[r]     WAKE messages queued on r's connection
 *                 selfwake[r] r's eventfd, written by r itself
 *   Writer, publish n = 1 .. NP:
 *     PUBLISH  seq = n
 *     WAKE     each slot: w = wait[s]; nothing if wait_seq(w) >= n;
 *              FUTEX: a futex wake is due; FD: compare-and-swap w to
 *              w & ~FD, then send a message; a failed CAS reloads w and
 *              decides again; after the scan, if due, FUTEX_WAKE: every
 *              sleeper wakes. After 2 failed CASes native_wake.c sends
 *              without a CAS: never with readers that follow the protocol
 *              (assert). A CAS fails when the reader re-arms between the
 *              load and the CAS; its next re-arm follows a read after
 *              PUBLISH n, so carries wait_seq n, and the writer is done.
 *   Futex reader (NFX of them, slots 0 .. NFX-1), until last == NP: one
 *   mmsync_wait(), then a read (last = seq):
 *     WAIT-ARM     wait[r] = last << 2 | FUTEX
 *     WAIT-RECHECK s = seq; if s > last: WAIT-DISARM (clear FUTEX), return
 *     WAIT-SLEEP   FUTEX_WAIT(&seq, s): sleeps unless seq != s (EAGAIN);
 *                  then WAIT-RECHECK again
 *   The wait arms once and re-checks after each sleep, as reader_wait.c
 *   does: a re-arm there would store the same word (last is unchanged).
 *   Descriptor reader (NFD of them, the next slots): a first read, then
 *   after every read, new or not, until last == NP:
 *     DRAIN        msgs[r] = 0, selfwake[r] = 0; with -DDRAIN_ONE one
 *                  message only, as drain() takes (two can be queued: a
 *                  message sent after the DRAIN that follows its CAS, then
 *                  the next publish's; the second is one spurious wake-up)
 *     WAIT-ARM     wait[r] = last << 2 | FD
 *     WAIT-RECHECK if seq > last: selfwake[r] = 1
 *     WAIT-SLEEP   poll until msgs[r] > 0 or selfwake[r]; read last = seq
 *
 * PROPERTIES
 *   No lost wake-up: every reader stops once it has read version NP, so
 *   no state is labelled end: pan's end-state check reports any reader
 *   left asleep or polling when nothing else can move.
 *   No spinning (asserts): a futex reader returns from WAIT-SLEEP at most
 *   FX_BOUND times, a descriptor reader wakes from its poll at most
 *   FD_BOUND times, both 2 * NP - 1 by default. A wake-up either finds a
 *   new version (at most NP: for the futex, an EAGAIN or the wake of a
 *   publish after the re-check) or is spurious: a FUTEX_WAKE or a message
 *   for a publish the reader has read already (one per publish at most,
 *   none for publish NP, after which the reader stops). A reader that goes
 *   on has at most 2 wake-ups per publish. Both bounds are reached.
 *
 * CONFIGURATIONS (spin -D)
 *   NP=3 NFX=1 NFD=1 by default: ~0.5 M states, under a second. NP=4:
 *   ~2 M states; NFX=2 NP=2: ~2.8 M. Three readers and 3 publishes verify
 *   but are too big for every run (the wake-up counters multiply the
 *   states): NFX=2 45 M states, 54 s, 2.7 GB; NFD=2 122 M states, 202 s,
 *   5.7 GB (pan built with a larger -DMEMLIM).
 *
 * WHAT IS ABSTRACTED
 *   Sequential consistency: every access in the code is seq_cst (store seq
 *   then load the word, store the word then load seq: the store-load pair
 *   that needs it). Each statement is one atomic step: a store or an
 *   exchange (WAIT-ARM), a compare-and-swap, a fetch-and (WAIT-DISARM),
 *   FUTEX_WAIT's compare-and-sleep. The eventfd and the counters are the
 *   reader's own, so a step of the reader on them joins the step on shared
 *   words next to it.
 *   Left out: sleep timeouts (the futex sleep lasts at most DEATH_PROBE_NS
 *   in the code: a lost wake-up there is a late one, here a blocked
 *   reader), signals, spurious futex returns, a full socket, hang-ups,
 *   GENERATION messages, and a slot armed both ways at once.
 *
 * BROKEN VARIANTS (-DBROKEN=n; each must fail)
 *   1  the descriptor reader skips WAIT-RECHECK after WAIT-ARM
 *   2  the writer runs WAKE before its PUBLISH store of seq
 *   3  the futex reader sleeps without the kernel's compare
 *   4  the descriptor reader does WAIT-ARM after WAIT-RECHECK
 *   5  the descriptor reader re-arms only after a read that found a new
 *      version: a spurious wake-up leaves it readable, and it spins
 *   6  DRAIN after WAIT-RECHECK: it eats a message sent for a publish
 *      after the re-check, and the self-wake
 *   7  DRAIN leaves the self-wake set: readable for good, it spins
 * NOT BROKEN (each must verify)
 *   -DFX_ARM_LATE  the futex reader arms after WAIT-RECHECK: the kernel's
 *      compare in FUTEX_WAIT comes after the arm, and is the re-check.
 *   -DPLAIN_STORE  the writer clears FD with a plain store of the word it
 *      loaded, no CAS. The reader only raises wait_seq and sets FD, and
 *      the message follows the store: an arm the store wipes out is
 *      answered by that message (a spurious wake-up, within the bound).
 */

#ifndef NP
#define NP 3
#endif
#ifndef NFX
#define NFX 1
#endif
#ifndef NFD
#define NFD 1
#endif
#ifndef FX_BOUND
#define FX_BOUND (2 * NP - 1)
#endif
#ifndef FD_BOUND
#define FD_BOUND (2 * NP - 1)
#endif
#ifndef BROKEN
#define BROKEN 0
#endif

#define NS (NFX + NFD)
#define FUTEX 1
#define FD 2
#define WSEQ(w) ((w) >> 2)

mtype = { DONE, CAS, SEND };	/* the writer's next step at a slot */

byte seq;
byte wait[NS];
bool asleep[NS];
byte msgs[NS];
bool selfwake[NS];

/* The writer's decision on the word w it loaded (native_wake.c). */
inline decide()
{
	if
	:: WSEQ(w) >= n -> act = DONE	/* it has this version already */
	:: else ->
		if
		:: w & FUTEX -> futex_due = 1
		:: else
		fi;
		if
		:: !(w & FD) -> act = DONE
		:: tries < 2 && (w & FD) -> act = CAS
		:: tries >= 2 && (w & FD) ->	/* a word that keeps changing */
			act = SEND;
			assert(false)	/* never, see the header */
		fi
	fi;
	printf("W: slot %d wait (%d, futex %d, fd %d): %e\n", s, WSEQ(w), w & FUTEX, (w & FD) / FD, act)
}

inline publish()
{
	d_step { seq = n; printf("W: PUBLISH %d\n", n) }
}

active proctype writer()
{
	byte n, s, w, tries;
	mtype act = DONE;
	bool futex_due;

	for (n : 1 .. NP) {
#if BROKEN != 2
		publish();
#endif
		/* WAKE */
		for (s : 0 .. NS - 1) {
			d_step { w = wait[s]; tries = 0; decide() }
			do
			:: act == DONE -> break
			:: act == SEND ->
				d_step {	/* the reader's descriptor is readable */
					msgs[s]++;
					printf("W: sends a message to slot %d\n", s)
				}
				break
			:: act == CAS ->
#ifdef PLAIN_STORE
				/* not a broken variant: see the header */
				d_step { wait[s] = w & ~FD; act = SEND }
#else
				d_step {
					if
					:: wait[s] == w -> wait[s] = w & ~FD; act = SEND
					:: else ->
						printf("W: CAS on slot %d fails\n", s);
						w = wait[s]; tries++; decide()
					fi
				}
#endif
			od;
			atomic { w = 0; act = DONE; tries = 0 }
		}
		s = 0;
#if BROKEN == 2
		publish();	/* after WAKE */
#endif
		if
		:: futex_due ->	/* FUTEX_WAKE: one for every sleeper */
			d_step {
				for (s : 0 .. NS - 1) {
					asleep[s] = 0
				}
				s = 0;
				futex_due = 0;
				printf("W: FUTEX_WAKE\n")
			}
		:: else
		fi
	}
}

inline futex_arm()
{
	d_step {	/* WAIT-ARM */
		wait[r] = last << 2 | FUTEX;
		printf("F%d: WAIT-ARM (%d, futex)\n", r, last)
	}
}

proctype futex_reader(byte r)
{
	byte last, s, returns;

	do
	:: last == NP -> break
	:: else ->	/* mmsync_wait() */
#ifndef FX_ARM_LATE
		futex_arm();
#endif
		do
		:: d_step { s = seq; printf("F%d: WAIT-RECHECK seq %d\n", r, s) }
#ifdef FX_ARM_LATE
			futex_arm();	/* after WAIT-RECHECK */
#endif
			if
			:: s > last -> break
			:: else
			fi;
			/* WAIT-SLEEP: FUTEX_WAIT(&seq, s) */
#if BROKEN == 3
			d_step { asleep[r] = 1; printf("F%d: WAIT-SLEEP\n", r) }
#else
			d_step {
				if
				:: seq == s -> asleep[r] = 1; printf("F%d: WAIT-SLEEP\n", r)
				:: else -> printf("F%d: WAIT-SLEEP: EAGAIN\n", r)
				fi
			}
#endif
			d_step { !asleep[r]; returns++ }
			assert(returns <= FX_BOUND)
		od;
		atomic {	/* WAIT-DISARM */
			wait[r] = wait[r] & ~FUTEX;
			s = 0
		}
		d_step { last = seq; printf("F%d: reads %d\n", r, last) }
	od
}

inline drain()
{
#if BROKEN == 7
	d_step { msgs[r] = 0; printf("D%d: DRAIN, not the self-wake\n", r) }
#elif defined(DRAIN_ONE)
	d_step {
		if
		:: msgs[r] > 0 -> msgs[r]--
		:: else
		fi;
		selfwake[r] = 0;
		printf("D%d: DRAIN one message of %d\n", r, msgs[r] + 1)
	}
#else
	d_step { msgs[r] = 0; selfwake[r] = 0; printf("D%d: DRAIN\n", r) }
#endif
}

inline fd_arm()
{
	d_step {	/* WAIT-ARM */
		wait[r] = last << 2 | FD;
		printf("D%d: WAIT-ARM (%d, fd)\n", r, last)
	}
}

inline recheck()
{
#if BROKEN != 1
	d_step {	/* WAIT-RECHECK */
		if
		:: seq > last -> selfwake[r] = 1
		:: else
		fi;
		printf("D%d: WAIT-RECHECK seq %d, self-wake %d\n", r, seq, selfwake[r])
	}
#else
	skip	/* no WAIT-RECHECK */
#endif
}

proctype fd_reader(byte r)
{
	byte last, wakes;
#if BROKEN == 5
	byte prev;
#endif

	d_step { last = seq; printf("D%d: reads %d\n", r, last) }	/* the first read */
	do
	:: last == NP -> break
	:: else ->	/* re-arm, after every read */
#if BROKEN == 6
		fd_arm();
		recheck();
		drain();	/* after WAIT-RECHECK */
#elif BROKEN == 4
		drain();
		recheck();
		fd_arm();	/* after WAIT-RECHECK */
#else
		drain();
		fd_arm();
		recheck();
#endif
		do
		:: d_step {	/* WAIT-SLEEP: poll until readable */
			msgs[r] > 0 || selfwake[r];
			wakes++;
			printf("D%d: wakes (messages %d, self-wake %d)\n", r, msgs[r], selfwake[r])
		   }
			assert(wakes <= FD_BOUND);
			d_step {	/* the read */
#if BROKEN == 5
				prev = last;
#endif
				last = seq;
				printf("D%d: reads %d\n", r, last)
			}
#if BROKEN == 5
			if
			:: last == prev && last != NP	/* no re-arm: poll again */
			:: else -> break
			fi
#else
			break
#endif
		od
	od
}

init {
	byte r;

	atomic {
		for (r : 0 .. NFX - 1) {
			run futex_reader(r)
		}
		for (r : NFX .. NS - 1) {
			run fd_reader(r)
		}
		r = 0
	}
}
