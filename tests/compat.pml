/*
 * compat.pml: a Promela model of the compat layout's protocol (the files of
 * the Rust crate mmap-sync) with grace-period resets, as src/compat_writer.c and
 * src/compat_reader.c implement it. Checked by tests/spin_compat_test.sh.
 *
 * WHAT IS MODELLED
 *   Shared words: word     the version word: ver << 1 | idx (ver 1, 2, ...:
 *                          every publish has a version of its own)
 *                 cnt[2]   the reader count of each copy
 *   The steps are those of docs/protocol.md (compat layout):
 *   Reader (NR of them, NREADS reads each), acquire + read_end:
 *     LOAD-VERSION v = word; COUNT cnt[idx(v)] += 1;
 *     RECHECK if word != v: back off (decrement unless 0), start again
 *     [read copy c = idx(v)]
 *     UNCOUNT w = word
 *       idx(w) == c and w != v: told (-ESTALE), no decrement
 *       else: decrement unless 0; at 0 told (the count was reset)
 *   Writer, NW writes after the first publish:
 *     next = !idx(word)
 *     WAIT-COUNT wait until cnt[next] == 0; RESET when the grace period
 *       expires (any time a count is non-zero: spin tries every moment),
 *       store 0 in cnt[next], or with -DNO_RESET give up and publish nothing
 *     FILL [write copy next]; PUBLISH word = (ver + 1) << 1 | next
 *   The writer's "load the count, then act" are separate steps, as are the
 *   reader's load of the word and its decrement at read_end.
 *
 * PROPERTIES (asserts)
 *   start:     a reader starts its view on a copy no write is filling.
 *   bounded:   a count never exceeds NR (no decrement wraps it).
 *   told:      a reader whose copy was overwritten while it read, and whose
 *              read_end sees the word name that copy again (republished),
 *              is told.
 *   NO_RESET:  no write starts on a copy a reader is reading.
 *   The two claims below do NOT hold with resets; spin_compat_test.sh
 *   expects spin to refute them (the documented limit) and to verify them
 *   with -DNO_RESET:
 *   -DCLAIM_ALL_TOLD  every reader overwritten while it read is told.
 *   -DCLAIM_UNRESET   a reader whose count was never reset is never
 *              overwritten. Counter-example: A holds copy X past the grace;
 *              the writer resets X, republishes X; B counts on X; the
 *              writer publishes Y; A's read_end sees the word name Y, takes
 *              B's count and is not told; the next write overwrites B.
 *
 * WHAT IS ABSTRACTED
 *   Sequential consistency: every access in the implementation is seq_cst
 *   (the reader's "count, then re-check" and the writer's "check the
 *   count, then write" are store-load pairs that need it). Each Promela
 *   statement is one atomic step; a compare-and-swap loop that decrements
 *   unless 0 is one step. Bytes are not modelled: ghost variables say who
 *   reads and who writes which copy when (viewing[], writing[],
 *   overwritten[]); a write spans its start to its publish, a read its
 *   re-check to its re-load of the word (wider than the real ones).
 *   Readers do not die here (a dead reader's count is one held forever:
 *   with NO_RESET every later write times out, which pan accepts).
 *
 * BROKEN VARIANTS (-DBROKEN=n; each must fail)
 *   1  read_end decrements without re-loading the word (the code before
 *      this model: a stale reader takes a later reader's count, untold)
 *   2  the back-off uses fetch_sub: a reset count wraps
 *   3  NO_RESET still resets when the grace period expires
 *   4  the reader skips its re-check after incrementing
 */

#ifndef NR
#define NR 2
#endif
#ifndef NW
#define NW 4
#endif
#ifndef NREADS
#define NREADS 2
#endif
#ifndef BROKEN
#define BROKEN 0
#endif

#define NONE 2

byte word = 2;			/* version 1 on copy 0 */
byte cnt[2];
/* ghosts */
bool writing[2];
byte viewing[NR] = NONE;	/* the copy reader r reads, or NONE */
bool overwritten[NR];		/* a write of its copy began while it read */
byte held[NR] = NONE;		/* the copy reader r counts itself on, or NONE */
bool was_reset[NR];		/* a reset zeroed the count r counted itself on */

inline decrement_unless_0(c, told)
{
	d_step {
		if
		:: cnt[c] > 0 -> cnt[c]--; told = 0
		:: else -> told = 1
		fi;
		held[r] = NONE;
		printf("R%d: drops a count of copy %d (now %d)\n", r, c, cnt[c])
	}
}

proctype reader(byte r)
{
	byte v, c, w, k;
	bool told;

	for (k : 1 .. NREADS) {
again:
		v = word;
		c = v & 1;
		d_step {
			cnt[c]++; held[r] = c; was_reset[r] = 0;
			printf("R%d: counts on copy %d for v%d (count %d)\n", r, c, v / 2, cnt[c])
		}
#if BROKEN == 4
		d_step { viewing[r] = c; overwritten[r] = 0; assert(!writing[c]) }
#else
		if
		:: d_step { word == v -> viewing[r] = c; overwritten[r] = 0; assert(!writing[c]) }
			printf("R%d: reads copy %d, v%d\n", r, c, v / 2)
		:: word != v ->
			printf("R%d: the word moved, backs off copy %d\n", r, c);
#if BROKEN == 2
			d_step { cnt[c] = (cnt[c] + 255) % 256; held[r] = NONE }
#else
			decrement_unless_0(c, told);
#endif
			goto again
		fi;
#endif
		/* read_end */
		d_step { w = word; viewing[r] = NONE }
#if BROKEN == 1
		decrement_unless_0(c, told);
#else
		if
		:: (w & 1) == c && w != v -> d_step { told = 1; held[r] = NONE }
		:: else -> decrement_unless_0(c, told)
		fi;
#endif
		printf("R%d: read_end of v%d: word v%d on copy %d, count %d, told %d, overwritten %d\n",
		       r, v / 2, w / 2, w & 1, cnt[c], told, overwritten[r]);
		assert(!(overwritten[r] && !told && (w & 1) == c));
#ifdef CLAIM_ALL_TOLD
		assert(!(overwritten[r] && !told));
#endif
	}
}

active proctype writer()
{
	byte i, next, j;

	for (i : 1 .. NW) {
		next = 1 - (word & 1);
		do
		:: cnt[next] == 0 -> break
		:: cnt[next] != 0 ->	/* the grace period expires */
#if defined(NO_RESET) && BROKEN != 3
			goto timed_out	/* -ETIMEDOUT: nothing published */
#else
			d_step {
				printf("W: grace expires on copy %d: reset (count %d)\n", next, cnt[next]);
				cnt[next] = 0;
				for (j : 0 .. NR - 1) {
					if
					:: held[j] == next -> was_reset[j] = 1
					:: else
					fi
				}
				j = 0
			}
			break
#endif
		od;
		atomic {	/* the write of copy next begins (atomic: break jumps here) */
			writing[next] = 1;
			for (j : 0 .. NR - 1) {
				if
				:: viewing[j] == next ->
					overwritten[j] = 1;
#ifdef NO_RESET
					assert(false);	/* a reader is overwritten */
#endif
#ifdef CLAIM_UNRESET
					assert(was_reset[j]);
#endif
				:: else
				fi
			}
			j = 0
		}
		printf("W: writes copy %d\n", next);
		d_step { writing[next] = 0; word = (i + 1) * 2 + next }
		printf("W: publishes v%d on copy %d\n", i + 1, next);
timed_out:	skip
	}
}

active proctype bounded()
{
	assert(cnt[0] <= NR && cnt[1] <= NR);
}

init {
	byte r;
	atomic {
		for (r : 0 .. NR - 1) {
			run reader(r)
		}
	}
}
