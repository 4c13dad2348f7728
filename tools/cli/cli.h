/* SPDX-License-Identifier: MIT */
/* What the files of the mmsync command share: error printing, option
 * parsing helpers, the stop flag of SIGINT/SIGTERM, and each subcommand. */
#ifndef MMSYNC_CLI_H
#define MMSYNC_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* main.c: usage, errors and helpers every family uses. */
int usage(const char *why);
int fail(const char *what, int err);
int fail_sys(const char *what, int err);
int fail_path(const char *path, int err, const char *enoent);
int write_all(int fd, const char *p, size_t len);
int parse_u64(const char *s, uint64_t *out);
int parse_user(const char *s, uid_t *out);

extern volatile sig_atomic_t stop;
void catch_signals(void);

enum stat_format { STAT_TEXT, STAT_JSON, STAT_PROM };

/* compat.c: the mmap-sync file layout (PREFIX). */
int cmd_put(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int stat_prefix(const char *prefix, uid_t trust, enum stat_format fmt);

/* serve.c: the native writer. */
int cmd_serve(int argc, char **argv);

/* native.c: native readers (--socket) and the pinned figures (--all). */
struct mmsync_reader;
struct mmsync_reader_opts;
int cmd_read(int argc, char **argv);
int connect_reader(const char *sock, const struct mmsync_reader_opts *o, struct mmsync_reader **r);
int stat_socket(const char *path, const struct mmsync_reader_opts *o, enum stat_format fmt);
int stat_all(enum stat_format fmt);

/* output.c: --output FILE, written atomically. */
struct output {
	const char *path;
	char tmp[4096];
};
int output_begin(struct output *o, const char *path);
int output_end(struct output *o, int rc);

/* progress.c: how far a long operation has got, on a terminal. */
struct progress {
	const char *what;
	uint64_t total, last_ns;
	bool on;
};
void progress_begin(struct progress *p, const char *what, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);
/* Bytes a copy is filled by at a time when progress is shown. */
#define PROGRESS_CHUNK (8u << 20)

/* wait.c: both layouts. */
int cmd_wait(int argc, char **argv);

#endif
