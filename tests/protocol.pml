/*
 * protocol.pml: a Promela model of the native layout's read protocol, the
 * wait-free left-right with per-reader slots and eviction, and of the
 * lifecycle around it (generations, revoked readers, reused table slots,
 * fenceless readers and a failing barrier: CONFIGURATIONS below). Checked
 * by tests/spin_test.sh (spin -a, pan compiled with -DSAFETY).
 *
 * The protocol is written up in docs/protocol.md; the comments below name
 * its steps where the model takes them (LOAD-COUNT, ARRIVE, LOAD-COPY,
 * DECLARE, DEPART, CHECK, TAKE-UP, SEE-COUNT; WAIT-NEXT, FLIP, WAIT-OLD,
 * REVOKE-FENCELESS, FILL, COMMIT-GENERATION, PUBLISH, BARRIER, NOTE,
 * RECLAIM, EVICT, REVOKE).
 *
 * WHAT IS MODELLED
 *   Shared words:  vi  indicator new readers arrive on (0/1)
 *                  li  copy readers read (0/1)
 *   Per slot r:    arrived[r]    NONE, or ON(i) = arrived on indicator i
 *                  reading[r]    slot.reading: the copy it names, and
 *                  reading_cur[r]  whether its n is the current arrival's
 *                                (see "Arrival generation" below)
 *                  evictions[r]  bumped by the writer only
 *                  dead[r]       what the writer's liveness probe (the OFD
 *                                lock on the slot) reports
 *   Writer-private: evicted[r]   the arrival it evicted and now ignores
 *
 *   Reader: e0 = evictions; v = vi; arrived = ON(v) (full fence); c = li;
 *   reading = (n, c); [read copy c]; arrived = NONE; told = evictions != e0.
 *   Writer, each publish: the waits of the previous publish (on !vi; vi =
 *   !vi; on the old vi), write copy !li, li = !li, then a look at each
 *   slot's arrival (publish_scan()). A wait on indicator x
 *   ignores a slot that is dead, evicted (same arrival), not arrived on x,
 *   or whose reading names cur = li with the n of its current arrival
 *   (slot_on(): such a reader reads the copy just published, and the write
 *   that follows the waits fills the other one), or whose arrival is not
 *   the one the writer saw after its store of li (pub_same[r]: a later
 *   arrival loads li after that store). When the grace period
 *   expires it evicts every slot it does not ignore.
 *
 *   NR readers (default 2) loop forever; each may die at any step or quit
 *   cleanly between reads. The writer publishes NW times (default 4: the
 *   ABA of BROKEN=4 needs 4 publishes to show) and then stops, optionally
 *   running the waits of its last publish (close). Both can be changed
 *   with spin -DNR=n -DNW=n; NR=3 is out of reach of the test's budget
 *   (NR=3 NW=2 verifies: 230 M states, ~9 min, 11.5 GB with -DCOLLAPSE).
 *   The correct model: 20.5 M states, ~27 s, ~950 MB with -DCOLLAPSE.
 *
 * CONFIGURATIONS
 *   Without switches: the core above, NR = 2 readers, NW = 4 publishes.
 *   The lifecycle is checked in smaller configurations, each switch adding
 *   its part to the core (which stays as it is: readers may die, the
 *   grace period evicts). With any of them NR defaults to 1: each property
 *   below needs one reader, and two with death and eviction do not fit
 *   the test's budget (-DGEN -DNR=2 -DNW=3 and -DFENCELESS -DNR=2 -DNW=2
 *   exceed 2 GiB; -DREVOKE -DNR=2 -DNW=3: ~36 M states, ~3.5 min; -DGEN
 *   -DNR=2 -DNW=2 verifies: 10.5 M states, ~20 s). What one reader leaves
 *   out is what readers do to each other through the writer: the core
 *   checks it with two, and so do the two-reader runs below (-DNO_DEATH).
 *
 *   -DGEN  Generations, committed at publish. Shared: hgen (the header's
 *     generation and capacity, and what a handshake hands out), dgen[c]
 *     (desc[c].generation); per reader: conn[r] (handshake done), rgen[r]
 *     (generation of the copies it maps), q[r] (its socket: bit g set = a
 *     GENERATION(g) message queued). Readers start unconnected. The
 *     handshake is a writer step (the writer is one thread): it happens
 *     only between its API calls (between_calls(): before a write, after
 *     prepare = write_begin() returned, after the fill), never inside
 *     publish, and hands out hgen. (That matters: a handshake between the
 *     commit and the store of li would hand out G+1 while desc[li] still
 *     names G, -EBADMSG.) A write may grow: prepare makes copies
 *     of hgen + 1 privately (grow; nothing a reader can see). After the
 *     fill it fails or is aborted (the prepared copies are dropped, nothing
 *     is published, the next write has no waits to finish), or publishes:
 *     GENERATION(hgen + 1) queued on each connected reader's socket, then
 *     hgen++ (the commit), then desc[w] = (.., hgen) with li = w. The
 *     reader loads desc[c] after li, in a step of its own (an evicted
 *     reader may see it change); another generation: it departs, takes the
 *     library's path, takes up the copies from its socket (native_refresh:
 *     messages oldest first until one names it, older ones dropped; one
 *     step: the socket is its own and the writer only appends) and arrives
 *     again (goto again).
 *   -DREVOKE  Readers revoked, not dropped. Between its API calls the
 *     writer may find any connected reader's connection reporting data, an
 *     error or a hang-up; with -DGEN a GENERATION send may fail too. A
 *     dead reader is reclaimed (IS_DEAD: the waits ignore it); a live one
 *     is revoked: revoked[r] (the slot's mark), THEN evictions[r]++ (a
 *     release: a reader that loads the new count sees the mark; the other
 *     order is BROKEN=14); its slot is still scanned, and it is sent
 *     nothing more (rv_done[r], a ghost, is set with the bump). The
 *     reader keeps known (f->evictions: the count loaded at its last
 *     arrival, 0 at set-up as in a fresh slot); when the count it loads at
 *     arrival differs it takes the library's path, which sees the mark and
 *     fails (the reader then gives up, alive and departed). The library's
 *     path taken for a descriptor of another generation (-DGEN) looks at
 *     the mark too, before it looks for the message: the GENERATION send
 *     to a revoked reader failed or was never made (BROKEN=13).
 *   -DREUSE  Table-slot reuse. A dead reader's slot may get a new owner
 *     (OWNERS in all, default 2): claim_table_slot() takes the lock
 *     (dead[r] = false), then stores arrived = 0, which ends the
 *     predecessor's arrival (its evicted mark can no longer match: erased,
 *     as at a departure); the owner's read numbers go on past the slot's
 *     reading, so its arrivals are new values as any arrival is. The
 *     writer no longer ignores a dead slot at once (IS_DEAD is false): a
 *     wait held by a slot loads its arrival a (same[r] = true; any store to
 *     arrived clears it), probes the lock (dead[r]) and, dead, reclaims:
 *     compare-and-swap arrived from a to 0 (same[r]), forget the evicted
 *     mark and the note (noted[r] = false: no arrival is then passed over
 *     for being new since the note), and go on to the next slot (continue:
 *     an owner that claimed after the probe arrived after the store of li,
 *     so it reads the current copy); and between API calls
 *     (refresh_figures() on dispatch: load, probe, reclaim) for any
 *     subset of the slots.
 *   -DFENCELESS  Fenceless readers and the writer's barrier. Per slot
 *     mode[r] (FENCED or FL) and a store buffer buf[r] for its arrival; a
 *     flusher process per reader drains it at any moment; the reader's
 *     later stores (reading, departure) drain it first (FIFO), and so does
 *     its death (before the exit releases the OFD lock); its loads
 *     (li, desc, evictions, the flag) do not wait for it. A fenced arrival
 *     (store and full fence) is visible at once. Set-up: fenced, or mode =
 *     FL (full fence) then a load of fenceless_ok (a header flag), back to
 *     FENCED if it is clear. The writer's membarrier, issued after the
 *     store of li when some slot's mode is FL, drains every buffer: one
 *     step with the store of li and the note (a reader's load of li before
 *     the store has its arrival drained before the note; a load after sees
 *     the new li). It may fail, and then fails for good (seccomp). The
 *     rule on failure, "revoke while the barrier is down": the writer
 *     stores fenceless_ok = 0 (its next step), then before each fill loads
 *     each slot's mode and bumps the count of every FL slot (Dekker with
 *     the set-up: the reader stores its mode then loads the flag, the
 *     writer stores the flag then loads the modes); a reader whose count
 *     changed takes the library's path, which loads fenceless_ok and, clear,
 *     switches it to FENCED (one step, between reads). Eviction needs no
 *     barrier: the implementation orders it like a seqlock (bump, release
 *     fence, fill; departure, acquire fence, load of the count), which SC
 *     models as it is. -DNO_RECHECK: the reader loads the flag before it
 *     stores its mode (no Dekker); that verifies too (two readers, -DNW=2
 *     -DNO_DEATH, with or without -DNO_GRACE): since the writer loads every
 *     mode before every fill, a reader that goes fenceless after the
 *     failure is bumped like the others. The re-check only spares such a
 *     reader its -ESTALE reads until its library path switches it.
 *
 *   Switches combine: -DFENCELESS with -DREVOKE or -DREUSE checks their
 *   interplay (a fenceless reader revoked; a fenceless owner dead with its
 *   arrival buffered, and its successor). Also verified, too slow for
 *   every run: -DGEN -DFENCELESS (1.6 M states), -DGEN -DREVOKE
 *   -DFENCELESS (6.6 M, ~10 s), -DREUSE -DNR=2 -DNW=3 -DNO_GRACE (8.9 M,
 *   ~13 s), -DREUSE -DOWNERS=3.
 *
 *   -DNO_DEATH: readers never die (with -DREUSE: no slot changes owner);
 *   with -DNO_GRACE it makes two-reader runs of -DGEN -DREVOKE and
 *   -DFENCELESS fit (NW=2): those check what two readers do to each other
 *   (two sockets; a fenced reader beside a fenceless one, the set-up of
 *   one racing the failure of the barrier issued for the other), and
 *   without the grace period pan's end-state check means: the writer's
 *   waits end once the readers are gone (revoked readers give up). With
 *   -DREUSE -DNO_GRACE it means: the writer never waits for ever on a dead
 *   owner's slot (its probe reclaims it).
 *
 * PROPERTY (the assert in the reader)
 *   A reader whose read overlapped a WRITE of the copy it read is told so:
 *   read_end sees slot.evictions changed (-ESTALE). Overlap is tracked
 *   with ghost variables (viewing[], writing[], conflict[]): the reader sets
 *   conflict[r] when it starts reading a copy that is being written, the
 *   writer sets it for every reader reading the copy it starts writing.
 *   Both intervals are taken wider than the real ones (the read spans from
 *   the load of li to the store that departs, the write from the load of li
 *   to the store of li), so the check is conservative.
 *   pan also checks for invalid end states (a state where nothing can move
 *   but the writer has not finished). With the grace period this holds
 *   trivially, since a timeout always ends a wait. With -DNO_GRACE (no
 *   timeouts, hence no eviction) the only states where no reader can move
 *   are those where every reader has quit or died, so the check means: the
 *   writer's waits end once every reader is gone or dead (it never waits on
 *   a dead reader's slot); and the assert means that without eviction no
 *   read ever overlaps a write of its copy.
 *   -DGEN adds: a reader that finds another generation in a descriptor
 *   always finds a message naming it on its socket (assert(false) where
 *   native_refresh() returns -EBADMSG). -DREVOKE adds: no read ends as a
 *   success (not told) once the reader is revoked (assert(told ||
 *   !rv_done[r]) at read_end). -DREUSE and -DFENCELESS check the core's
 *   property across owners of a slot and for fenceless readers.
 *
 * WHAT IS ABSTRACTED
 *   Memory model: sequential consistency. The reader's arrival store is
 *   followed by a full fence (seq_cst) before it loads li, every other
 *   shared access is seq_cst too. Eviction is ordered like a seqlock (the
 *   writer bumps, fences (release) and fills; the reader departs, fences
 *   (acquire) and loads the count), which SC gives as it is.
 *   A fenceless reader has no fence there: the writer's membarrier right
 *   after its store of li, before it notes the arrivals, stands in for it
 *   (either the arrival is visible to the note and every later load, or the
 *   reader's load of li sees the store), so the model's reader is the same.
 *   -DFENCELESS models the fenceless store explicitly (a store buffer),
 *   and the barrier's failure; only the arrival is buffered: a delayed
 *   reading store or departure only makes the writer wait (or evict) more.
 *   The implementation loads vi relaxed: -DANY_VI lets that load return
 *   either value. Safety does not depend on it (a reader that loaded the
 *   old li arrived before the writer's store of li, and both waits come
 *   after that store; vi only steers new readers away from the indicator
 *   being drained, for liveness). The runner checks -DANY_VI -DNO_GRACE
 *   (~1 s); -DANY_VI with the grace period also verifies (47 M states,
 *   ~75 s, ~2.5 GB with -DCOLLAPSE), too long for every test run.
 *   Each Promela statement is one atomic step; the writer scans slots one
 *   at a time (not one snapshot of the table).
 *   Data: a copy's bytes are not modelled, only who reads and who writes
 *   which copy and when (the ghost variables above).
 *   Arrival generation: the implementation stores (n << 1 | vi) in arrived,
 *   n the reader's read count, so one arrival never equals an earlier one
 *   of the same slot, and the writer ignores an evicted slot only while
 *   arrived still holds the value it evicted. The model stores only the
 *   indicator and instead erases the writer's mark when the evicted arrival
 *   ends (the reader departs): after that no arrival can match it again.
 *   The 64-bit counter is taken never to wrap. -DBROKEN=4 drops the
 *   generation, to show it is needed.
 *   The same n is in slot.reading = (n << 1 | c), and the writer trusts the
 *   copy c only if reading's n is arrived's n (slot_reading()). The model
 *   keeps the copy (reading[r], never erased: a value left by an earlier
 *   arrival stays in the slot, as in the implementation) and replaces the
 *   n-match by reading_cur[r]: cleared in the step that stores arrived (a
 *   new arrival, a new n), set in the step that stores reading, cleared at
 *   departure (arrived == 0: slot_reading() gives -1). This is the n-match
 *   exactly: a reader stores reading at most once per arrival, only with
 *   that arrival's n and only while arrived holds it, and n is never used
 *   twice in a slot; so reading's n equals arrived's n iff the last store
 *   to reading was made during the current arrival, which is what the flag
 *   records. The initial word 0 is (n = 0, copy 0) and no arrival has n = 0
 *   (n is incremented before use): hence reading[r] = 0, reading_cur[r] =
 *   false at the start, a stale value naming copy 0, not a NONE.
 *   -DBROKEN=6 drops the match, to show it is needed.
 *   The premise "n is never used twice in a slot" holds for the lifetime
 *   of one reader. A slot's next owner (-DREUSE) does not restart n: it
 *   starts at the n of the slot's reading + 2^32 (claim_table_slot()), and
 *   the model takes its values to be new. That holds unless the
 *   predecessor's last arrival was 2^32 or more numbers past its last
 *   reading store (as many begins that departed without one: failures).
 *   The writer's check is one atomic step here (CLEAR); slot_on() loads
 *   arrived (a, at t1) and then reading (at t2). If reading at t2 has a's
 *   n and names cur, the reader stored it at some ts <= t2 while arrived
 *   held a; then at max(t1, ts) arrived == a and reading holds that value,
 *   so the atomic check holds at an instant within [t1, t2]: the model
 *   covers the split check (and the writer scans the slots in order).
 *   cur is loaded from li when a wait starts; only the writer stores li,
 *   never during its waits, so the model uses li itself.
 *   The reading store is relaxed: under SC that is not modelled, and it
 *   does not matter: its c is the value of the reader's own load of li, so
 *   a writer that loads it learns a copy that reader really loaded; a
 *   writer that loads an older value sees another n and waits.
 *   The implementation stores reading after it has checked the descriptor
 *   (and the checksum, which reads the copy). In the model the store is a
 *   step of its own, which may come at any time between the load of li
 *   and the departure (the reader does nothing else in between), so every
 *   placement is covered; the read (ghost) begins at the load of li in any
 *   case. Paths that depart without storing reading (copies of another
 *   generation, an invalid descriptor) are not modelled but for -DGEN's:
 *   the writer sees the same as for a model read whose store is followed
 *   at once by its departure, with no writer step in between.
 *   The count of readers per copy (from reading, for the statistics) is
 *   not modelled: the waits do not use it.
 *   Eviction of one slot (load arrived, bump evictions, remember the
 *   arrival) is one atomic step. In the implementation a reader may depart
 *   and arrive again between the load and the bump: it then gets an extra
 *   -ESTALE (harmless) and its new arrival, having another generation, is
 *   not ignored; the model leaves out only that spurious -ESTALE.
 *   Death: a reader stops at any step, its slot left as it was; dead[] is
 *   set at once (the OFD lock is released when the process exits) and the
 *   writer ignores the slot from then on (with -DREUSE: from its probe
 *   on, and a new owner may claim the slot).
 *   -DGEN: the capacity is committed with the generation (same step) and
 *   not modelled apart; copy sizes, prefaulting, the handshake's header
 *   check and the HELLO's processing by the reader are not modelled (the
 *   reader starts reading with the generation handed out). Readers made
 *   from exported descriptors have no socket and cannot take up a new
 *   generation at all (-ESTALE); they are not modelled. Generations are
 *   numbered consecutively: an aborted growth's number is not skipped
 *   (the messages would name the skipping number, as desc does).
 *   -DREVOKE: a revoked reader gives up after its failed begin (later
 *   begins fail the same way); it may still die. Dead readers' slots are
 *   ignored at once (as in the core).
 *   -DREUSE: only table slots are reused (a socket reader's slot object is
 *   a new memfd per connection): it does not combine with -DGEN or
 *   -DREVOKE (socket readers), which would hand a dead reader's socket
 *   to the slot's next owner. Between the lock and its store of 0 a new
 *   owner does not die (dying there is its predecessor's death again).
 *   Timing: the grace period is a timeout branch available at every step
 *   of a wait. Deferring the waits of a publish to the start of the next
 *   write does not change the order of the writer's steps (waits; write;
 *   li = w; waits; write; ...), only when they happen in real time: the
 *   writer loop below is written in the deferred order, and the final
 *   waits (on close) may or may not run.
 *
 * BROKEN VARIANTS (spin -DBROKEN=n): each must make pan find an error.
 *   1  the reader loads li BEFORE it publishes its arrival
 *   2  the writer skips the first wait (on indicator !vi)
 *   3  eviction does not bump slot.evictions (the reader is never told)
 *   4  no arrival generation: the writer ignores a slot whenever arrived
 *      equals the value it evicted, even for a later read (ABA)
 *   5  the writer does not probe for dead readers (with -DNO_GRACE: it
 *      then waits forever on a dead reader's slot: invalid end state)
 *   6  the writer skips a slot whose reading names cur without checking
 *      that reading's n is the current arrival's (a stale reading: from an
 *      earlier read, or the slot's initial word). Needs 3 publishes and one
 *      reader: the reader arrives while the writer fills copy X, loads
 *      li = !X and is slow to store its reading; X is published, and the
 *      waits that follow trust the stale reading naming X and skip the
 *      reader; the writer fills !X under it, and it is not told.
 *   8  the writer notes the slots' arrivals before its store of li, not
 *      after: an arrival it has not noted may then have loaded the old li
 *   7  the reader stores reading before it loads li, naming the copy of its
 *      previous read (what reading already says): then it loads li and
 *      reads another copy. Same trace as 6 (3 publishes, one reader), with
 *      a reading that has the current n and names the wrong copy: the
 *      reading must be stored after the load of li and with its value.
 *   9  (-DGEN; today's code, defect 1) the generation is committed at
 *      prepare: new_generation() queues GENERATION(G+1) and stores the
 *      header (what handshakes hand out) before the copy is filled, and
 *      the growing write may then fail or be aborted. A reader that
 *      connects after that prepare gets G+1 while desc[li] names G: no
 *      message names G (-EBADMSG).
 *   10 (-DREVOKE; today's code) a connection event drops the reader: its
 *      slot is freed (dropped[r]: no longer scanned, no bump, no mark)
 *      while the reader lives. It arrives, reads copy c; the writer
 *      publishes twice without waiting for it and fills c under its read:
 *      not told.
 *   11 (-DREUSE) the reclaim clears arrived unconditionally: the writer
 *      loads the dead owner's arrival, probes (dead); a new owner claims
 *      the slot, arrives and loads li = c; the writer's clear erases that
 *      arrival, the next publishes do not wait for it, and c is filled
 *      under the read: not told.
 *   12 (-DFENCELESS; today's code, defect 2) the barrier fails but counts
 *      as done: no flag, no bumps. A fenceless reader's arrival sits in its
 *      store buffer while it loads the old li; the note misses it, it
 *      drains later (a value new since the note: passed over by the waits)
 *      and the next write fills its copy under it: not told.
 *   13 (-DGEN -DREVOKE) the library's path looks at the revoked mark only
 *      when the count loaded at arrival changed. The reader loads the count
 *      (unchanged), the writer's GENERATION send to it fails (revoked:
 *      bump, mark), it commits G+1 and publishes; the reader arrives, finds
 *      G+1 in desc[li] and no message naming it: -EBADMSG, where it should
 *      be told it was revoked.
 *   14 (-DREVOKE) revocation bumps the count before it sets the mark: the
 *      reader's next begin sees the new count, takes the library's path,
 *      finds no mark yet and adopts the count; every later read of it
 *      succeeds: revoked, never told.
 *
 * STATE-SAVING STEPS (exact: each removes only states no one can tell
 * apart)
 *   Locals are reset once they are dead (v after the arrival, c after the
 *   reading store, the rest after the read). There is no may_die() between
 *   the load of li and the reading store: the load changes no shared word
 *   and death clears the ghosts, so dying there is dying just before it.
 *   The end of a read (load evictions, assert, forget) is one step: the
 *   assert is a ghost check and nothing else changes conflict[r] after the
 *   departure (the writer marks only readers whose viewing[r] is set).
 */

#if defined(REUSE) && (defined(GEN) || defined(REVOKE))
#error "REUSE is of table slots, which have no socket: not with GEN or REVOKE"
#endif
#if defined(GEN) || defined(REVOKE) || defined(REUSE) || defined(FENCELESS)
#define LIFECYCLE		/* a lifecycle configuration (see the header) */
#endif
#ifndef NR
#ifdef LIFECYCLE
#define NR 1			/* readers: one suffices for each property */
#else
#define NR 2			/* readers */
#endif
#endif
#ifndef NW
#define NW 4			/* writes: BROKEN=4 needs 4 */
#endif
#ifndef BROKEN
#define BROKEN 0
#endif
#ifndef OWNERS
#define OWNERS 2		/* REUSE: owners a slot has in turn */
#endif
#if defined(REVOKE) || defined(FENCELESS)
#define KNOWN			/* the reader compares each count with the last */
#endif
#if defined(GEN) || defined(REVOKE) || defined(REUSE)
#define DISPATCH		/* the writer acts between its API calls */
#endif

#define NONE 0
#define ON(i) ((i) + 1)		/* arrived on indicator i */

/* shared memory */
byte vi = 0;			/* indicator new readers arrive on */
byte li = 0;			/* copy readers read */
byte arrived[NR];		/* slot.arrived: NONE, ON(0) or ON(1) */
byte evictions[NR];		/* slot.evictions, written by the writer only */
bool dead[NR];			/* the OFD-lock probe: reader r has died */
bit reading[NR];		/* slot.reading: the copy it names (initially 0) */
bool reading_cur[NR];		/* slot.reading's n is that of slot.arrived (see header) */
bool pub_same[NR];		/* slot.arrived is what the writer saw after its last li store */
#ifdef GEN
byte hgen = 0;			/* header generation: the committed one, handed out in handshakes */
byte dgen[2];			/* desc[c].generation */
#endif
#ifdef REVOKE
bool revoked[NR];		/* the slot's revoked mark */
bool rv_done[NR];		/* ghost: revoked, mark and bump both made */
#endif
#ifdef FENCELESS
#define FENCED 0
#define FL 1
byte mode[NR];			/* slot.mode: FENCED or FL (fenceless) */
bool fenceless_ok = true;	/* header flag: the writer's barrier works */
byte buf[NR];			/* reader r's store buffer: its arrival not yet visible, or NONE */
#endif

/* reader-private, or the socket between it and the writer */
#ifdef GEN
bool conn[NR];			/* the handshake is done */
byte rgen[NR];			/* generation of the copies reader r has mapped */
byte q[NR];			/* its socket: bit g set = a GENERATION(g) message queued */
#endif

/* writer-private */
byte evicted[NR];		/* the arrival the writer evicted and ignores, or NONE */
#ifdef REUSE
bool noted[NR];			/* the note of the last publish applies (published_seq != 0) */
bool same[NR];			/* arrived still holds the value the writer loaded before its
				 * probe (the compare of the compare-and-swap) */
#endif
#if BROKEN == 10
bool dropped[NR];		/* BROKEN: the slot was freed, the writer no longer scans it */
#endif

/* ghosts */
bool writing[2];		/* the writer is inside WRITE copy c */
byte viewing[NR];		/* 1 + the copy reader r is reading, or 0 */
bool conflict[NR];		/* reader r's current read overlapped a WRITE of its copy */

/* A new value becomes visible in slot x's arrived (stored, or drained from
 * the reader's store buffer): no reading has its n yet, it is not the
 * value the writer noted, nor the one it loaded before a probe. */
inline set_arrived(x, val)
{
	arrived[x] = val;
	reading_cur[x] = false;
#ifdef REUSE
	same[x] = false;
#endif
	pub_same[x] = false
}

#ifdef FENCELESS
/* Reader x's store buffer drains: its arrival becomes visible. */
inline flush(x)
{
	if
	:: buf[x] != NONE -> set_arrived(x, buf[x]); buf[x] = NONE
	:: else
	fi
}
#define FLUSH_OWN() flush(r)	/* FIFO: a later store of the reader leaves after it */
#else
#define FLUSH_OWN() skip
#endif

/* ---------------------------------------------------------------- reader */

/* A reader may die at any point: goto died, its slot stays as it is. */
inline may_die()
{
#ifdef NO_DEATH
	skip
#else
	if
	:: skip
#ifdef FENCELESS
	/* its store buffer drains before the exit releases its lock */
	:: atomic { flush(r); dead[r] = true }; goto died
#else
	:: dead[r] = true; goto died
#endif
	fi
#endif
}

/* DEPART: slot.arrived = NONE, and the end of the read (ghost) */
inline depart()
{
	FLUSH_OWN();
	viewing[r] = 0;
	arrived[r] = NONE;	/* slot.arrived = NONE */
	reading_cur[r] = false;	/* (no arrival: nothing current) */
#ifdef REUSE
	same[r] = false;
#endif
#if BROKEN != 4
	/* the arrival has ended: with its generation it can no
	 * longer match the writer's mark */
	evicted[r] = NONE
#else
	skip
#endif
}

active [NR] proctype reader()
{
	byte r = _pid;		/* readers are pids 0 .. NR-1: r is the slot */
	byte e0, v, c;
	bool told;
#ifdef GEN
	byte g;			/* the generation desc[c] names */
#endif
#ifdef KNOWN
	byte known;		/* f->evictions: the count loaded at its last arrival
				 * (0 at set-up: a fresh slot) */
	bool lib;		/* the count changed: take the library's path */
#endif
#ifdef REUSE
	byte owners = 1;
#endif

#ifdef GEN
end_unconnected:
	conn[r];		/* the handshake is a step of the writer */
#endif
#ifdef FENCELESS
	/* set-up (slot_set_mode()) */
	if
	:: skip			/* fenced: MMSYNC_FENCED, or not registered */
	::
#ifdef NO_RECHECK
		/* the flag loaded before the mode is stored (no Dekker) */
		if
		:: fenceless_ok -> mode[r] = FL
		:: else
		fi
#else
		mode[r] = FL;	/* slot.mode = fenceless, then a full fence */
		atomic {	/* load fenceless_ok: clear, revert to fenced */
			if
			:: !fenceless_ok -> mode[r] = FENCED
			:: else
			fi
		}
#endif
	fi;
#endif
end_idle:
	do
	:: /* quit cleanly between reads (lets the model have end states) */
	   break
	:: true ->
again:
		atomic {
			e0 = evictions[r];		/* LOAD-COUNT: e0 = slot.evictions */
#ifdef KNOWN
			lib = (e0 != known);		/* not the count it knew */
			known = e0
#endif
		}
		may_die();
#ifdef KNOWN
		if
		:: lib ->
			/* SEE-COUNT: the library's path (mmsync_read_begin_call) */
#ifdef REVOKE
			atomic {
				if
				:: revoked[r] -> goto refused	/* read_begin fails: revoked */
				:: else
				fi
			}
#endif
#ifdef FENCELESS
			atomic {
				/* load fenceless_ok; clear: re-register fenced */
				if
				:: mode[r] == FL && !fenceless_ok -> mode[r] = FENCED
				:: else
				fi
			}
#endif
			lib = false;
			may_die()
		:: else
		fi;
#endif
#if BROKEN == 1
		c = li;				/* BROKEN: c = li loaded before arriving */
		may_die();
#endif
#ifdef ANY_VI
		if :: v = 0 :: v = 1 fi;	/* v = vi, any value (relaxed load) */
#else
		v = vi;				/* v = vi */
#endif
		may_die();
		atomic {
#ifdef FENCELESS
			if
			:: mode[r] == FL -> buf[r] = ON(v)	/* ARRIVE, a plain store: into the store buffer */
			:: else -> set_arrived(r, ON(v))	/* ARRIVE: exchange, store and full fence */
			fi;
#else
			set_arrived(r, ON(v));	/* ARRIVE: slot.arrived = (n << 1) | v; full fence */
#endif
			v = 0			/* (dead from here on) */
		}
		may_die();
#if BROKEN == 7
		atomic {
			/* BROKEN: slot.reading = (n << 1) | c stored before the
			 * load of li, with a stale c: the copy of the last read,
			 * which reading already names (the copy is left as it is) */
			reading_cur[r] = true
		}
		may_die();
#endif
		atomic {
#if BROKEN != 1
			c = li;			/* LOAD-COPY: c = li */
#endif
			/* READ copy c begins (ghost) */
			viewing[r] = c + 1;
			conflict[r] = writing[c]
		}
#ifdef GEN
		g = dgen[c];			/* d = desc[c] */
		if
		:: g == rgen[r]
		:: else ->
			/* copies of another generation: depart, take them up
			 * (the library's path), arrive again */
			atomic { depart(); conflict[r] = false; e0 = 0; c = 0 }
			may_die();
#if defined(REVOKE) && BROKEN != 13
			atomic {
				if
				:: revoked[r] -> goto refused	/* read_begin fails: revoked */
				:: else
				fi
			}
#endif
			atomic {
				/* TAKE-UP, native_refresh(): the messages on the socket, oldest
				 * first, until one names g; the older ones are dropped */
				if
				:: (q[r] >> g) & 1 -> rgen[r] = g; q[r] = q[r] & ~((2 << g) - 1)
				:: else ->
					/* none names g: -EBADMSG */
					assert(false)
				fi;
				g = 0
			}
			goto again
		fi;
#endif
#if BROKEN != 7
		/* (no may_die() before this store: see the header) */
		atomic {
			FLUSH_OWN();
			reading[r] = c;		/* DECLARE: slot.reading = (n << 1) | c */
			reading_cur[r] = true;
#ifdef GEN
			g = 0;
#endif
			c = 0			/* (dead from here on) */
		}
		may_die();
#endif
		atomic {
			/* READ copy c ends (ghost) */
			depart()
		}
		may_die();
		atomic {
			told = (evictions[r] != e0);	/* CHECK: read_end returns -ESTALE */
			/* the read is bad iff the writer wrote copy c during it;
			 * acceptable only if told (one step: see the header) */
			assert(!conflict[r] || told);
#ifdef REVOKE
			/* once revoked, no read of it succeeds */
			assert(told || !rv_done[r]);
#endif
			/* forget this read's locals (fewer states) */
			e0 = 0; v = 0; c = 0; told = false; conflict[r] = false
		}
	od;
	goto end_quit;
#ifdef REVOKE
refused:
	/* read_begin failed: the reader gives up (alive, departed) */
	atomic { e0 = 0; lib = false; known = 0 }
	goto end_quit;
#endif
died:
	atomic {
		e0 = 0; v = 0; c = 0; told = false; viewing[r] = 0; conflict[r] = false;
#ifdef GEN
		g = 0;
#endif
#ifdef KNOWN
		lib = false; known = 0;
#endif
		skip
	}
#ifdef REUSE
	if
	:: owners < OWNERS ->
		/* a new reader claims the slot (claim_table_slot()): the lock,
		 * then arrived = 0, which ends the predecessor's arrival; its
		 * numbers go on past the slot's (the model's values are new) */
		atomic { owners++; dead[r] = false }
		atomic { set_arrived(r, NONE); evicted[r] = NONE }
		goto end_idle
	:: else
	fi;
#endif
end_quit:
	skip
}

/* ---------------------------------------------------------------- writer */

#if BROKEN == 5
#define IS_DEAD(r) false	/* BROKEN: no liveness probe */
#elif defined(REUSE)
#define IS_DEAD(r) false	/* the probe is explicit: probe_slot() */
#else
#define IS_DEAD(r) dead[r]
#endif

/* The slot's own word says that its current arrival reads the current copy,
 * cur = li (the writer loads li when a wait starts; only the writer stores
 * li, and not during its waits, so cur == li throughout a wait). */
#if BROKEN == 6
#define READS_CUR(r) (reading[r] == li)	/* BROKEN: of any arrival */
#else
#define READS_CUR(r) (reading_cur[r] && reading[r] == li)
#endif

/* Arrived since the note after the last store of li (another value). A
 * reclaimed slot has no note (published_seq = 0): nothing is passed over. */
#ifdef REUSE
#define NEW_SINCE_NOTE(r) (noted[r] && !pub_same[r])
#else
#define NEW_SINCE_NOTE(r) (!pub_same[r])
#endif

#if BROKEN == 10
#define GONE(r) dropped[r]	/* BROKEN: a freed slot is not scanned */
#else
#define GONE(r) false
#endif

/* The writer ignores slot r for indicator i (slot_on() returns 0): dead,
 * evicted (same arrival), not arrived on i, reading the current copy, or
 * arrived since the writer's look right after its store of li. */
#define CLEAR(r, i) (IS_DEAD(r) || GONE(r) || (evicted[r] != NONE && arrived[r] == evicted[r]) || \
		     arrived[r] != ON(i) || READS_CUR(r) || NEW_SINCE_NOTE(r))

/* NOTE, publish_scan(): the writer notes what each slot holds; the reader's
 * next arrival (a new value) clears the note. One step here, right at the
 * store of li; the implementation notes the slots one by one after it, so
 * it may note a later arrival than the model does and then waits for it:
 * it skips a subset of what the model skips, and waits are all that keep
 * a read safe. It notes fenced slots before the BARRIER, which drains only
 * fenceless readers' buffers: what it sees of a fenced slot is the same. */
inline note_arrivals()
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR ->
		pub_same[r] = true;
#ifdef REUSE
		noted[r] = true;
#endif
		r++
	od;
	r = 0
}

/* EVICT: the grace period expired; every live slot still arrived on i is
 * evicted. No barrier: the implementation orders it like a seqlock (see
 * WHAT IS ABSTRACTED), which SC models as it is. */
inline evict(i)
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR ->
		atomic {
			if
			:: !CLEAR(r, i) ->
#if BROKEN != 3
				evictions[r]++;		/* slot.evictions++ */
#endif
				evicted[r] = arrived[r]	/* mark it evicted */
			:: else
			fi;
			r++
		}
	od;
	r = 0
}

#ifdef REUSE
/* RECLAIM: slot_reclaim(a) of a table slot, a loaded before the probe:
 * compare-and-swap arrived from a to 0; forget the evicted mark and the note. */
inline reclaim()
{
	atomic {
#if BROKEN == 11
		set_arrived(r, NONE);		/* BROKEN: cleared whatever it holds */
#else
		if
		:: same[r] -> set_arrived(r, NONE)	/* still a: cleared */
		:: else					/* a new owner's arrival: kept */
		fi;
#endif
		evicted[r] = NONE;
		noted[r] = false;
		same[r] = false
	}
}

/* In a wait, slot r holds it (a = arrived, loaded by slot_on()): the probe
 * (F_OFD_GETLK); dead: reclaim, and go on to the next slot (continue);
 * alive: wait on. */
inline probe_slot()
{
	if
	:: dead[r] -> reclaim(); r++		/* the lock is free */
	:: else -> same[r] = false		/* alive */
	fi
}

/* refresh_figures() on dispatch: each table slot's arrival loaded, then the
 * probe; a dead reader's slot is reclaimed. Any subset of the slots. */
inline table_probe()
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR ->
		if
		:: atomic { arrived[r] != NONE -> same[r] = true }
			if
			:: dead[r] -> reclaim()
			:: else -> same[r] = false
			fi
		:: skip
		fi;
		r++
	od;
	r = 0
}
#endif

/* wait until no live, non-evicted slot has arrived == ON(i); or the grace
 * period expires. */
inline wait_for(i)
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR && CLEAR(r, i) -> r++
#ifdef REUSE
	:: atomic { r < NR && !CLEAR(r, i) -> same[r] = true } -> probe_slot()
#endif
#ifndef NO_GRACE
	:: true -> evict(i); break		/* timeout */
#endif
	od;
	r = 0
}

/* the waits of one publish */
inline publish_waits()
{
#if BROKEN != 2
	i = 1 - vi;
	wait_for(i);		/* WAIT-NEXT: on indicator !vi */
#endif
	vi = 1 - vi;		/* FLIP: vi = 1 - vi */
	i = 1 - vi;
	wait_for(i);		/* WAIT-OLD: on the old vi */
#ifdef GEN
	atomic { i = 0; pend = false }
#else
	i = 0
#endif
}

#ifdef REVOKE
/* REVOKE. The connection of reader x reports data, an error or a hang-up, or a
 * GENERATION send to it failed. A dead reader is reclaimed (IS_DEAD: the
 * waits ignore it); a live one is revoked: its count bumped (an open
 * view's read_end says -ESTALE), its mark set (its next read_begin fails);
 * the waits keep scanning its slot. */
inline revoke(x)
{
#if BROKEN == 10
	dropped[x] = true	/* BROKEN: the slot is freed, no bump, no mark */
#else
	if
	:: !dead[x] ->
#if BROKEN == 14
		atomic { evictions[x]++; rv_done[x] = true };	/* BROKEN: the bump first */
		revoked[x] = true
#else
		revoked[x] = true;			/* the mark, then */
		atomic { evictions[x]++; rv_done[x] = true }	/* the bump (release) */
#endif
	:: else
	fi
#endif
}

#ifdef GEN
#define CONNECTED(x) conn[x]
#else
#define CONNECTED(x) true
#endif
#if BROKEN == 10
#define SERVED(x) (CONNECTED(x) && !dropped[x])
#else
#define SERVED(x) (CONNECTED(x) && !revoked[x])
#endif

/* mmsync_writer_dispatch(): connection events, any subset of the slots */
inline connection_events()
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR && SERVED(r) -> revoke(r); r++
	:: atomic { r < NR -> r++ }
	od;
	r = 0
}
#else
#define SERVED(x) conn[x]
#endif

#ifdef GEN
/* A handshake: reader x gets the committed generation's copies. */
inline accept_readers()
{
	atomic {
		r = 0;
		do
		:: r == NR -> break
		:: r < NR ->
			if
			:: !conn[r] -> conn[r] = true; rgen[r] = hgen
			:: skip
			fi;
			r++
		od;
		r = 0
	}
}

/* COMMIT-GENERATION's sends: GENERATION(hgen + 1) with the new descriptors,
 * to each reader served */
inline send_generation()
{
	r = 0;
	do
	:: r == NR -> break
	:: atomic { r < NR && SERVED(r) -> q[r] = q[r] | (1 << (hgen + 1)); r++ }
#ifdef REVOKE
	:: r < NR && SERVED(r) -> revoke(r); r++	/* the send fails */
#endif
	:: atomic { r < NR && !SERVED(r) -> r++ }
	od;
	r = 0
}
#endif

#ifdef GEN
#define PENDING pend
#else
#define PENDING (n > 0)
#endif

#ifdef DISPATCH
/* Between the writer's API calls: handshakes, connection events, table
 * probes (mmsync_writer_dispatch()). */
inline between_calls()
{
#ifdef GEN
	accept_readers();
#endif
#ifdef REVOKE
	connection_events();
#endif
#ifdef REUSE
	table_probe();
#endif
	skip
}
#endif

#ifdef FENCELESS
/* BARRIER: membarrier(), issued right after the store of li when a slot's mode is
 * fenceless: every store buffer drains. It may fail, and then fails for
 * good (seccomp). */
inline barrier()
{
	r = 0;
	do
	:: r < NR && mode[r] != FL -> r++
	:: r < NR && mode[r] == FL -> break
	:: r == NR -> break
	od;
	if
	:: r < NR ->
		r = 0;
		if
		:: bar_ok ->
			do
			:: r < NR -> flush(r); r++
			:: else -> break
			od
		:: true ->
			bar_ok = false;		/* the barrier fails */
#if BROKEN != 12
			rule = true		/* revoke while the barrier is down */
#else
			skip			/* BROKEN: counted as done */
#endif
		fi
	:: else
	fi;
	r = 0
}

/* REVOKE-FENCELESS, before the writer fills any copy: slot.evictions++ for every
 * slot whose mode is fenceless (each mode loaded then). */
inline bump_fenceless()
{
	r = 0;
	do
	:: r == NR -> break
	:: r < NR ->
		atomic {
			if
			:: mode[r] == FL -> evictions[r]++
			:: else
			fi;
			r++
		}
	od;
	r = 0
}
#endif

/* PUBLISH (desc[w], li = w), BARRIER, NOTE */
inline store_li()
{
	atomic {
		writing[w] = false;	/* WRITE copy w ends (ghost) */
#ifdef GEN
		dgen[w] = hgen;		/* desc[w] = (version, seq, generation) */
#endif
		li = w;			/* li = w */
		w = 0;
#ifdef FENCELESS
		barrier();
#endif
#if BROKEN != 8
		note_arrivals();	/* NOTE, at the store of li */
#endif
#ifdef GEN
		pend = true;
#endif
		skip
	}
#ifdef FENCELESS
	if
	:: rule && fenceless_ok -> fenceless_ok = false	/* then the modes */
	:: else
	fi
#endif
}

active proctype writer()
{
	byte w, r, i, n = 0;
#ifdef GEN
	bool pend = false;	/* the waits of the last publish are still to do
				 * (a write may fail: not simply n > 0) */
	bool grow;		/* copies of generation hgen + 1 prepared, private */
#endif
#ifdef FENCELESS
	bool bar_ok = true;	/* membarrier() works */
	bool rule = false;	/* it failed: revoke while the barrier is down */
#endif

	do
	:: n < NW ->
#ifdef DISPATCH
		between_calls();
#endif
		if
		:: PENDING -> publish_waits()	/* waits of the previous publish */
		:: else
		fi;
#ifdef GEN
		if
		:: grow = true		/* the payload exceeds the capacity */
#if BROKEN == 9
			/* BROKEN: new_generation() commits at prepare */
			; send_generation();
			hgen++
#endif
		:: skip
		fi;
		between_calls();	/* write_begin() has returned */
#endif
#ifdef FENCELESS
		if
		:: rule -> bump_fenceless()
		:: else
		fi;
#endif
		atomic {
			w = 1 - li;		/* w = 1 - li */
			/* FILL: WRITE copy w begins (ghost): it overlaps every read of w */
			writing[w] = true;
			r = 0;
			do
			:: r < NR ->
				if
				:: viewing[r] == w + 1 -> conflict[r] = true
				:: else
				fi;
				r++
			:: else -> break
			od;
			r = 0
		}
#if BROKEN == 8
		atomic { note_arrivals() }	/* BROKEN: noted before the store of li */
#endif
#ifdef GEN
		between_calls();	/* the caller fills the copy */
		if
		:: atomic {
			/* the write fails or is aborted: the prepared copies
			 * are dropped, nothing is published */
			writing[w] = false; w = 0; grow = false
		   }
		::
#if BROKEN != 9
			if
			:: grow ->
				/* COMMIT-GENERATION: GENERATION(G+1) to each reader,
				 * then the header (handshakes), then PUBLISH */
				send_generation();
				atomic { hgen++; grow = false }
			:: else
			fi;
#else
			grow = false;
#endif
			store_li()
		fi;
#else
		store_li();
#endif
		n++
	:: else -> break
	od;
	/* close: the last publish's waits may or may not run */
	if
#ifdef GEN
	:: pend -> publish_waits()
#else
	:: publish_waits()
#endif
	:: skip
	fi
}

#ifdef FENCELESS
/* A reader's store buffer drains at any moment, the reader's own steps
 * and the writer's notwithstanding. */
active [NR] proctype flusher()
{
	byte x = _pid - NR - 1;	/* after the readers (0 .. NR-1) and the writer (NR) */
end_drain:
	do
	:: atomic { buf[x] != NONE -> flush(x) }
	od
}
#endif
