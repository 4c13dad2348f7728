/* SPDX-License-Identifier: MIT */
/*
 * The writer SIGKILLed at random points of writes of up to 256 MiB, 50
 * rounds on each layout. Readers go on reading the last complete version,
 * never a partial one; on the compat layout a restarted writer continues on
 * the same files; on the native layout readers learn that the writer has
 * gone (mmsync_reader_check()) and a new reader follows the restarted one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>

#include "harness.h"
#include "mmsync.h"

#if defined(__SANITIZE_THREAD__)
/* Every store of a payload is instrumented: a lighter run keeps the suite
 * within CI's time. The plain and ASan builds do the full one. */
#define ROUNDS 20
#define MAX_SIZE (16u << 20)
#else
#define ROUNDS 50
#define MAX_SIZE (256u << 20)
#endif

/* The writers' grace period. This test does not test eviction: a reader
 * checking a payload of up to 256 MiB on a loaded machine may hold its view
 * for seconds, and with a short grace period its -ESTALE would be a right
 * answer to a question this test does not ask. */
#define GRACE_NS (60ull * 1000000000u)

struct shared {
	_Atomic uint64_t seq;		/* next payload number, across writers */
	_Atomic uint64_t published;	/* highest seq a writer saw published */
	_Atomic int ready;
};

/* Waits until the writer @pid is writing; fails at once if it died. */
static void wait_ready(struct shared *sh, pid_t pid)
{
	uint64_t until = test_deadline();
	while (!atomic_load(&sh->ready)) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			test_child_forget(pid);
			fail_msg("the writer died before it wrote");
		}
		if (now_ns() > until)
			fail_msg("the writer did not start in %d s", TEST_DEADLINE_S);
		sleep_ns(100000);
	}
}

/* Sizes: most small, some of MiBs, some up to 256 MiB, so that a kill
 * lands inside large copies too. */
static size_t pick_size(unsigned *seed)
{
	switch (rand_r(seed) % 4) {
	case 0: return (size_t)rand_r(seed) % 4096;
	case 1: return (size_t)rand_r(seed) % (1u << 20);
	case 2: return (size_t)rand_r(seed) % (16u << 20);
	default: return (size_t)rand_r(seed) % MAX_SIZE;
	}
}

static void write_forever(struct mmsync_writer *w, struct shared *sh, bool native)
{
	unsigned seed = (unsigned)getpid();
	/* Mapped, not malloc()ed: pages are made as payloads need them, not
	 * all 256 MiB at each start (as MALLOC_PERTURB_, which meson sets,
	 * would have malloc() do). */
	uint8_t *buf = mmap(NULL, MAX_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		_exit(3);
	atomic_store(&sh->ready, 1);
	for (;;) {
		size_t len = pick_size(&seed);
		uint64_t seq = atomic_fetch_add(&sh->seq, 1) + 1;
		void *dst = buf;
		/* The native writer builds in place half of the time, so that
		 * kills land inside the copy itself too. */
		if (native && seq % 2 && mmsync_write_begin(w, len, GRACE_NS, &dst))
			_exit(4);
		payload_fill(dst, len, seq);
		int err = dst == buf ? mmsync_write(w, buf, len, GRACE_NS, NULL)
				     : mmsync_write_commit(w, len, NULL);
		if (err)
			_exit(5);
		atomic_store(&sh->published, seq);
		if (native)
			mmsync_writer_dispatch(w); /* serve connects between writes */
	}
}

/* One read, checked: whole, and not older than what was published before
 * the reader started the read. Return: the payload's seq, or 0 if none. */
static uint64_t check_read(struct mmsync_reader *r)
{
	struct mmsync_view v;
	uint64_t seq = 0;
	int err = mmsync_read_begin(r, &v);
	if (err == -ENODATA || err == -ENOENT)
		return 0;
	if (err)
		fail_msg("read_begin: %s", mmsync_strerror(err));
	bool whole = v.len == mmsync_version_size(v.version) && payload_check(v.data, v.len, &seq);
	size_t len = v.len;
	err = mmsync_read_end(r, &v);
	if (err)
		fail_msg("read_end: %s", mmsync_strerror(err));
	if (!whole)
		fail_msg("a torn read: %zu bytes", len);
	return len >= 8 ? seq : 1;
}

/* Reads for a random 0-200 ms while the writer @pid writes, kills it,
 * and reads the version it left twice: the last complete one, whole, both
 * times. */
static void read_then_kill(struct mmsync_reader *r, pid_t pid, unsigned *seed)
{
	uint64_t until = now_ns() + (uint64_t)(rand_r(seed) % 200) * 1000000;
	while (now_ns() < until)
		check_read(r);
	kill(pid, SIGKILL);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	uint64_t a = check_read(r), b = check_read(r);
	assert_int_equal(a, b);
}

static void test_compat_writer_killed(void **unused)
{
	(void)unused;
	struct tmp_prefix t;
	struct shared *sh = shared_map(sizeof(*sh));
	struct mmsync_reader *r;
	unsigned seed = 99, big = 0;

	tmp_prefix_make(&t, "crash");
	assert_int_equal(mmsync_reader_open(&r, t.prefix, NULL), 0);
	for (int round = 0; round < ROUNDS; round++) {
		atomic_store(&sh->ready, 0);
		pid_t pid = test_fork();
		if (pid == 0) {
			struct mmsync_writer *w;
			/* A restarted writer: the same files, going on from them. */
			if (mmsync_writer_open(&w, t.prefix, NULL))
				_exit(2);
			write_forever(w, sh, false);
		}
		wait_ready(sh, pid);
		read_then_kill(r, pid, &seed);
		struct mmsync_stat st = { .sz = sizeof(st) };
		assert_int_equal(mmsync_reader_stat(r, &st), 0);
		big += st.size > (16u << 20);
	}
	print_message("compat: %d writers killed, %lu payloads written, %u rounds ended on one > 16 MiB\n",
		      ROUNDS, (unsigned long)atomic_load(&sh->seq), big);
	mmsync_reader_close(r);
	munmap(sh, sizeof(*sh));
	tmp_prefix_remove(&t);
}

static void test_native_writer_killed(void **unused)
{
	(void)unused;
	struct shared *sh = shared_map(sizeof(*sh));
	unsigned seed = 7;
	char sock[64];

	snprintf(sock, sizeof(sock), "@mmsync-crash-%d", (int)getpid());
	for (int round = 0; round < ROUNDS; round++) {
		atomic_store(&sh->ready, 0);
		pid_t pid = test_fork();
		if (pid == 0) {
			struct mmsync_writer *w;
			MMSYNC_OPTS(mmsync_native_opts, o, .capacity = 1u << 20, .flags = MMSYNC_BPF_OFF);
			if (mmsync_writer_create(&w, uniq("crash"), &o) ||
			    mmsync_writer_listen(w, sock, NULL))
				_exit(2);
			write_forever(w, sh, true);
		}
		wait_ready(sh, pid);
		/* The writer serves connects between writes of up to 256 MiB:
		 * on a loaded machine, a connect may wait for seconds. */
		struct mmsync_reader *r;
		MMSYNC_OPTS(mmsync_reader_opts, ro, .timeout_ms = TEST_DEADLINE_S * 1000);
		uint64_t until = test_deadline();
		int err;
		while ((err = mmsync_reader_connect(&r, sock, &ro)))
			if (now_ns() > until)
				fail_msg("connect: %s", mmsync_strerror(err));
		assert_int_equal(mmsync_reader_check(r), 0);
		read_then_kill(r, pid, &seed);
		assert_int_equal(mmsync_reader_check(r), -EPIPE); /* and told the writer has gone */
		mmsync_reader_close(r);
	}
	print_message("native: %d writers killed, %lu payloads written\n", ROUNDS,
		      (unsigned long)atomic_load(&sh->seq));
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_compat_writer_killed),
		test_case(test_native_writer_killed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
