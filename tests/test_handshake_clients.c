/* SPDX-License-Identifier: MIT */
/* Peers a native writer turns away: hostile clients (garbage, hang-ups,
 * silent holders) and readers beyond max_readers. Nothing leaks, and the
 * honest readers keep reading every version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"
#include "handshake_test.h"

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* ---- hostile clients ---- */

struct hostile {
	_Atomic int ready;	/* every connection made */
	_Atomic int release;	/* close them all and exit */
};

/* Garbage senders and holders never read their hello: fewer than the
 * writer lets be unread at a time (HELLOS_UNREAD_MAX, 16). */
enum { N_GARBAGE = 6, N_HANGUP = 50, N_HOLD = 8 };

static int raw_connect(const char *name)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || fdpass_addr(name, &sa, &salen) || connect(s, (struct sockaddr *)&sa, salen))
		_exit(CHILD_SETUP);
	return s;
}

static __attribute__((noreturn)) void hostile_child(const char *name, struct hostile *h)
{
	int garbage[N_GARBAGE], hold[N_HOLD], p[2];
	uint8_t junk[100];
	unsigned seed = 99;

	if (pipe(p))
		_exit(CHILD_SETUP);
	for (int i = 0; i < N_GARBAGE; i++) {
		garbage[i] = raw_connect(name);
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)rand_r(&seed);
		/* Every other one passes the writer a descriptor, too. */
		if (fdpass_send(garbage[i], junk, sizeof(junk), p, i & 1))
			_exit(CHILD_SETUP);
	}
	for (int i = 0; i < N_HANGUP; i++)
		close(raw_connect(name));
	for (int i = 0; i < N_HOLD; i++)
		hold[i] = raw_connect(name);
	atomic_store(&h->ready, 1);
	uint64_t deadline = now_ms() + 60000;
	while (!atomic_load(&h->release))
		if (now_ms() > deadline || getppid() == 1)
			_exit(CHILD_TIMEOUT);
		else
			usleep(1000);
	for (int i = 0; i < N_GARBAGE; i++)
		close(garbage[i]);
	for (int i = 0; i < N_HOLD; i++)
		close(hold[i]);
	_exit(0);
}

static void test_hostile_clients(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(sizeof(*c));
	struct hostile *h = shared_alloc(sizeof(*h));
	uint64_t seq = 0;
	struct mmsync_writer *w = writer_new("hs-hostile", 0, &log);

	writer_listen(w, name, sizeof(name), NULL, 0);
	pid_t good = spawn_reader(c, name, -1);
	assert_int_equal(reader_connected(w, c), 0);
	for (int i = 0; i < 3; i++)
		publish_seen(w, c, ++seq);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	int baseline = count_fds(), maps = count_shm_maps();
	long rss = rss_kib();

	fflush(NULL);
	pid_t bad = test_fork();
	assert_true(bad >= 0);
	if (bad == 0)
		hostile_child(name, h);
	/* Publishing all along: the good reader sees every version. */
	uint64_t end = now_ms() + 30000;
	while (!atomic_load(&h->ready) && now_ms() < end)
		publish_seen(w, c, ++seq);
	assert_true(atomic_load(&h->ready));
	assert_true(DISPATCH_UNTIL(w, log.dropped == N_GARBAGE, 10000));
	/* Hang-ups taken back, holders served, garbage senders revoked: their
	 * slots are kept until they die (the slot object's lock travels in the
	 * handshake they never read, so they hold it while they live). */
	assert_int_equal(remote_live_slots(w, c, 1 + N_HOLD + N_GARBAGE), 1 + N_HOLD + N_GARBAGE);
	for (int i = 0; i < 5; i++)
		publish_seen(w, c, ++seq);

	atomic_store(&h->release, 1);
	assert_int_equal(dispatch_wait(w, bad, 10000), 0);
	assert_int_equal(remote_live_slots(w, c, 1), 1);
	assert_true(DISPATCH_UNTIL(w, count_fds() == baseline, 5000));
	assert_int_equal(count_fds(), baseline);
	/* Memory too: every slot object the hostile clients got is unmapped,
	 * and the writer's resident memory did not grow with them. */
	assert_int_equal(count_shm_maps(), maps);
	print_message("writer: %ld KiB resident before the hostile clients, %ld after\n", rss, rss_kib());
	assert_true(rss_kib() - rss < 4096);
	for (int i = 0; i < 5; i++)
		publish_seen(w, c, ++seq);

	assert_int_equal(log.dropped, N_GARBAGE);
	assert_int_equal(log.refused, 0);
	assert_int_equal(reader_finish(w, c, good), 0);
	assert_int_equal(atomic_load(&c->seen), seq);
	assert_int_equal(atomic_load(&c->missed), 0);
	assert_int_equal(atomic_load(&c->bad), 0);
	mmsync_writer_close(w);
	munmap(c, sizeof(*c));
	munmap(h, sizeof(*h));
}

/* ---- max_readers ---- */

static void test_max_readers(void **unused)
{
	(void)unused;
	struct log_count log;
	char name[64];
	struct ctl *c = shared_alloc(6 * sizeof(*c));
	pid_t pid[6];
	struct mmsync_writer *w = writer_new("hs-max", 3, &log);

	writer_listen(w, name, sizeof(name), NULL, 0);
	publish(w, 1);
	for (int i = 0; i < 3; i++) {
		pid[i] = spawn_reader(&c[i], name, -1);
		assert_int_equal(reader_connected(w, &c[i]), 0);
		assert_true(DISPATCH_UNTIL(w, atomic_load(&c[i].seen) == 1, 10000));
	}
	assert_int_equal(remote_live_slots(w, &c[0], 3), 3);

	pid[3] = spawn_reader(&c[3], name, -1);
	assert_int_equal(reader_connected(w, &c[3]), -EUSERS);
	assert_int_equal(dispatch_wait(w, pid[3], 10000), EUSERS);
	assert_int_equal(log.refused, 1);
	assert_non_null(strstr(log.last, "slots in use"));
	check_raw_refusal(w, name, EUSERS);
	assert_int_equal(log.refused, 2);

	/* Reader 0 closes its handle (its process lives on): its slot is
	 * taken back at the next dispatch, and a new reader gets it. */
	atomic_store(&c[0].cmd, CMD_CLOSE);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[0].phase) == 2, 10000));
	assert_int_equal(remote_live_slots(w, &c[1], 2), 2);
	pid[4] = spawn_reader(&c[4], name, -1);
	assert_int_equal(reader_connected(w, &c[4]), 0);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[4].seen) == 1, 10000));
	publish_seen(w, &c[4], 2);
	assert_true(DISPATCH_UNTIL(w, atomic_load(&c[1].seen) == 2 && atomic_load(&c[2].seen) == 2,
				   10000));
	assert_int_equal(remote_live_slots(w, &c[1], 3), 3);

	/* Full again. */
	pid[5] = spawn_reader(&c[5], name, -1);
	assert_int_equal(reader_connected(w, &c[5]), -EUSERS);
	assert_int_equal(dispatch_wait(w, pid[5], 10000), EUSERS);
	assert_int_equal(log.refused, 3);

	int live[] = { 0, 1, 2, 4 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(reader_finish(w, &c[live[i]], pid[live[i]]), 0);
	assert_int_equal(log.other + log.dropped, 0);
	mmsync_writer_close(w);
	munmap(c, 6 * sizeof(*c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		test_case(test_hostile_clients),
		test_case(test_max_readers),
	};
	signal(SIGPIPE, SIG_IGN);
	return test_run(tests);
}
