/* SPDX-License-Identifier: MIT */
/* The LMDB contender (4 in suite_main.c's list), as its child processes run
 * it: the payload under one key in an env on /dev/shm. In a file of its own
 * so that a build without LMDB (meson -Dlmdb=disabled) leaves it out; then
 * suite.h's stand-ins report the contender as not built. */
#include <lmdb.h>

#include "suite.h"

static const MDB_val lmdb_key = { 7, "payload" };

/* This child's env: a writer's, or a reader's with its transaction. */
static MDB_env *env;
static MDB_txn *rtxn;
static MDB_dbi dbi;

static void check_mdb(int err, const char *what)
{
	if (err)
		cfail("%s: %s", what, mdb_strerror(err));
}

void lmdb_writer_open(void)
{
	MDB_txn *txn;
	check_mdb(mdb_env_create(&env), "mdb_env_create");
	check_mdb(mdb_env_set_mapsize(env, LMDB_MAPSIZE), "mdb_env_set_mapsize");
	/* MDB_NOSYNC: durability is not what is compared (mmsync does
	 * not sync, and on tmpfs a sync has nothing to do anyway).
	 * MDB_WRITEMAP: mdb_put copies the value once, straight into
	 * the map, as the others do; without it each commit mallocs
	 * the value's pages and write()s them, and a 64 MiB value
	 * would be an mmap, faults and a munmap per write. */
	int err = mdb_env_open(env, lmdb_path, MDB_NOSUBDIR | MDB_WRITEMAP | MDB_NOSYNC, 0600);
	check_mdb(err, lmdb_path);
	check_mdb(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check_mdb(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
	check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
}

void lmdb_write(const void *src, size_t len)
{
	MDB_txn *txn;
	MDB_val v = { len, (void *)src };
	check_mdb(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check_mdb(mdb_put(txn, dbi, (MDB_val *)&lmdb_key, &v, 0), "mdb_put");
	check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
}

void lmdb_reader_open(void)
{
	check_mdb(mdb_env_create(&env), "mdb_env_create");
	check_mdb(mdb_env_open(env, lmdb_path, MDB_NOSUBDIR | MDB_RDONLY, 0600), lmdb_path);
	check_mdb(mdb_txn_begin(env, NULL, MDB_RDONLY, &rtxn), "mdb_txn_begin");
	check_mdb(mdb_dbi_open(rtxn, NULL, 0, &dbi), "mdb_dbi_open");
	mdb_txn_reset(rtxn); /* each read renews it */
}

static void read_failed(int err, const char *what) __attribute__((noreturn, cold, noinline));

static void read_failed(int err, const char *what)
{
	cfail("%s: %s", what, mdb_strerror(err));
}

/* A read renews the read-only transaction; inlined into the loop below, as
 * the other contenders' reads are into theirs (suite_contenders.c). */
static inline __attribute__((always_inline)) unsigned lmdb_read(struct rctx *c)
{
	MDB_val v;
	int err;
	if ((err = mdb_txn_renew(rtxn)))
		read_failed(err, "mdb_txn_renew");
	if ((err = mdb_get(rtxn, dbi, (MDB_val *)&lmdb_key, &v)))
		read_failed(err, "mdb_get");
	const unsigned char *p = v.mv_data;
	unsigned first = p[0], last = p[v.mv_size - 1];
	mdb_txn_reset(rtxn);
	c->torn += first != last;
	return first;
}

/* noinline: callgrind sees the loop as a function of its own. */
__attribute__((noinline)) unsigned lmdb_reads(struct rctx *c, uint64_t n)
{
	unsigned s = 0;
	for (uint64_t i = 0; i < n; i++)
		s += lmdb_read(c);
	return s;
}

void lmdb_close(void)
{
	if (rtxn)
		mdb_txn_abort(rtxn);
	if (env)
		mdb_env_close(env);
	rtxn = NULL;
	env = NULL;
}
