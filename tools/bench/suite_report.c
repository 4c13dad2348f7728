/* SPDX-License-Identifier: MIT */
/* What mmsync-bench-suite makes of its figures: the targets, met or MISSED,
 * the tables it prints and the JSON file it writes. */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "suite.h"

/* ---- figures as text ---- */

static const char *num_str(double v, char buf[24])
{
	snprintf(buf, 24, v < 10 ? "%.2f" : v < 1000 ? "%.1f" : "%.0f", v);
	return buf;
}

static const char *fig_str(struct fig f, char buf[80])
{
	char a[24], b[24], c[24];
	snprintf(buf, 80, "%s [%s..%s]", num_str(f.med, a), num_str(f.min, b), num_str(f.max, c));
	return buf;
}

/* A latency distribution's p50, p99 and max, as JSON members. */
static void json_tail(FILE *j, struct fig p50, struct fig p99, struct fig max)
{
	json_fig(j, "p50", p50);
	fprintf(j, ", ");
	json_fig(j, "p99", p99);
	fprintf(j, ", ");
	json_fig(j, "max", max);
}

/* ---- targets ---- */

#define N_TARGETS 9

struct target {
	const char *what;
	int k;			/* whose figure; its unavailability voids it */
	int k2;			/* the other contender in the ratio, or -1 */
	double value, limit;
	bool at_most;		/* value <= limit, else value >= limit */
	const char *unit;
};

static struct target T[N_TARGETS];
static int n_targets;

static void add_target(const char *what, int k, int k2, double value, double limit, bool at_most,
		       const char *unit)
{
	T[n_targets++] = (struct target){ what, k, k2, value, limit, at_most, unit };
}

static bool target_measured(const struct target *t)
{
	return !unavailable[t->k] && (t->k2 < 0 || !unavailable[t->k2]);
}

static bool target_met(const struct target *t)
{
	return t->at_most ? t->value <= t->limit : t->value >= t->limit;
}

void make_targets(void)
{
	int m64 = N_SIZES - 1;
	add_target("fenceless read / seqlock read", K_FENCELESS, K_SEQLOCK,
		   F.a[K_FENCELESS].med / F.a[K_SEQLOCK].med, 1.5, true, "x");
	add_target("fenceless read / rwlock read", K_FENCELESS, K_RWLOCK,
		   F.a[K_FENCELESS].med / F.a[K_RWLOCK].med, 0.25, true, "x");
	add_target("fenced read / rwlock read", K_FENCED, K_RWLOCK,
		   F.a[K_FENCED].med / F.a[K_RWLOCK].med, 0.5, true, "x");
	add_target("2-reader scaling, native fenceless", K_FENCELESS, -1, F.scaling[K_FENCELESS], 1.8,
		   false, "");
	add_target("2-reader scaling, native fenced", K_FENCED, -1, F.scaling[K_FENCED], 1.8, false, "");
	add_target("64 MiB write / memcpy, native fenceless", K_FENCELESS, -1,
		   F.cg[K_FENCELESS][m64].med / F.cg[MEMCPY][m64].med, 0.8, false, "x");
	add_target("64 MiB write / memcpy, native fenced", K_FENCED, -1,
		   F.cg[K_FENCED][m64].med / F.cg[MEMCPY][m64].med, 0.8, false, "x");
	add_target("writer p99, 36 B, two busy readers, native fenceless", K_FENCELESS, -1,
		   F.p99[K_FENCELESS].med, 20, true, " us");
	add_target("writer p99, 36 B, two busy readers, native fenced", K_FENCED, -1,
		   F.p99[K_FENCED].med, 20, true, " us");
}

/* ---- output ---- */

#define NAME_W 26

void print_report(void)
{
	char a[80], b[80], c[80];
	int n = F.rounds;

	printf("\n== a. one read of 36 B (begin + touch + end, or the equivalent), one reader process,\n"
	       "   writer idle: ns/read, median [min..max] of %d rounds\n", n);
	printf("%-*s %-30s %s\n", NAME_W, "contender", "ns/read", "reads/round");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k])
			printf("%-*s n/a: %s\n", NAME_W, kinfo[k].name, unavailable_why[k]);
		else
			printf("%-*s %-30s %" PRIu64 "\n", NAME_W, kinfo[k].name, fig_str(F.a[k], a),
			       F.read_ops[k]);
	}

	printf("\n== b. reads/s, writer publishing 36 B 1000 times a second, readers flat out\n"
	       "   for %.2f s a phase: millions of reads/s (summed over readers), median [min..max];\n"
	       "   scaling = median(2 readers) / median(1 reader); paired = median of rounds' own ratios\n",
	       F.phase_s);
	printf("%-*s %-26s %-26s %7s %s\n", NAME_W, "contender", "1 reader", "2 readers", "scaling",
	       "paired [min..max]");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k]) {
			printf("%-*s n/a\n", NAME_W, kinfo[k].name);
			continue;
		}
		printf("%-*s %-26s %-26s %7.2f %s\n", NAME_W, kinfo[k].name, fig_str(F.b1[k], a),
		       fig_str(F.b2[k], b), F.scaling[k], fig_str(F.bpaired[k], c));
	}

	printf("\n== c. one write, one idle reader process connected: ns/write and GB/s, median [min..max]\n"
	       "   of %d rounds (after %d unrecorded); memcpy: into a prefaulted buffer, in the same run;\n"
	       "   memcpy, 2 buffers: into two in turn, as a writer fills its two copies (not judged)\n",
	       n, WARM_ROUNDS);
	printf("%-8s %-*s %-32s %-26s %s\n", "size", NAME_W, "contender", "ns/write", "GB/s", "vs memcpy");
	for (int s = 0; s < N_SIZES; s++) {
		char sz[32];
		size_str(write_sizes[s], sz);
		for (int k = 0; k < NB; k++) {
			const char *name = k == MEMCPY ? "memcpy (baseline)" : k == MEMCPY2 ? "memcpy, 2 buffers"
										: kinfo[k].name;
			if (k < NK && unavailable[k]) {
				printf("%-8s %-*s n/a\n", sz, NAME_W, name);
				continue;
			}
			printf("%-8s %-*s %-32s %-26s %.2f\n", sz, NAME_W, name, fig_str(F.c[k][s], a),
			       fig_str(F.cg[k][s], b), F.cg[k][s].med / F.cg[MEMCPY][s].med);
		}
	}

	printf("\n== d. writer latency of 36 B writes, 1000 a second, two readers flat out (the\n"
	       "   2-reader phases of b): us, median [min..max] of the rounds' own figures\n");
	printf("%-*s %-24s %-24s %-26s %7s %5s  %s\n", NAME_W, "contender", "p50", "p99", "max", "writes",
	       "late", "p99, 1 reader");
	for (int k = 0; k < NK; k++) {
		if (unavailable[k]) {
			printf("%-*s n/a\n", NAME_W, kinfo[k].name);
			continue;
		}
		char e[80];
		printf("%-*s %-24s %-24s %-26s %7" PRIu64 " %5" PRIu64 "  %s\n", NAME_W, kinfo[k].name,
		       fig_str(F.p50[k], a), fig_str(F.p99[k], b), fig_str(F.pmax[k], c), F.d_writes[k],
		       F.d_late[k], fig_str(F.p99_1r[k], e));
	}
	if (!F.quick && !unavailable[K_FENCELESS])
		printf("%-*s %-24s %-24s %s\n   (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) alone, no write, on the same\n"
		       "   schedule with the two fenceless readers flat out: what each fenceless write pays)\n",
		       NAME_W, "membarrier alone", fig_str(F.e50, a), fig_str(F.e99, b), fig_str(F.emax, c));

	bool notes = false;
	for (int k = 0; k < NK; k++) {
		const char *note = S->ctl[k][READER1].note;
		if (unavailable[k] || (!note[0] && !F.torn[k] && !F.stale[k]))
			continue;
		if (!notes)
			printf("\n== notes\n");
		notes = true;
		if (note[0])
			printf("%s: %s\n", kinfo[k].name, note);
		if (F.torn[k])
			printf("%s: %" PRIu64 " TORN reads (first and last bytes differ)\n", kinfo[k].name,
			       F.torn[k]);
		if (F.stale[k])
			printf("%s: %" PRIu64 " reads evicted (-ESTALE) and read again\n", kinfo[k].name,
			       F.stale[k]);
	}

	printf("\n== targets (ratios of medians from this run)\n");
	for (int i = 0; i < n_targets; i++) {
		const struct target *t = &T[i];
		printf("%-56s ", t->what);
		if (!target_measured(t))
			printf("not measured (contender unavailable)\n");
		else
			printf("%7.2f%s  %s %.2f%s  %s\n", t->value, t->unit, t->at_most ? "<=" : ">=",
			       t->limit, t->unit, target_met(t) ? "met" : "MISSED");
	}
	printf("run took %.1f s\n", F.elapsed_s);
	if (F.other_cpu_s >= 0) {
		double pct = 100 * F.other_cpu_s / (F.elapsed_s * (double)sysconf(_SC_NPROCESSORS_ONLN));
		printf("other processes used %.1f CPU-s during the run (%.0f %% of the machine)%s\n",
		       F.other_cpu_s, pct, pct > 5 ? ": figures disturbed, run again on a quiet machine" : "");
	}
}

void write_json(FILE *j)
{
	fprintf(j, "{\n  \"tool\": \"mmsync-bench-suite\", \"quick\": %s, \"rounds\": %d, \"cpus\": %ld, "
		   "\"phase_s\": %.3f, \"payload_bytes\": %d, \"rate_per_s\": %u,\n",
		F.quick ? "true" : "false", F.rounds, sysconf(_SC_NPROCESSORS_ONLN), F.phase_s, PAYLOAD,
		(unsigned)(1000000000u / RATE_PERIOD_NS));
	fprintf(j, "  \"units\": {\"read\": \"ns\", \"reads_per_s\": \"millions/s\", \"write\": \"ns\", "
		   "\"bandwidth\": \"GB/s (1e9 bytes/s)\", \"latency\": \"us\"},\n");
	fprintf(j, "  \"contenders\": [\n");
	for (int k = 0; k < NK; k++) {
		fprintf(j, "    {\"key\": \"%s\", \"name\": \"%s\", \"available\": %s", kinfo[k].key,
			kinfo[k].name, unavailable[k] ? "false" : "true");
		if (unavailable[k]) {
			fprintf(j, ", \"why\": \"");
			for (const char *p = unavailable_why[k]; *p; p++)
				fputc(*p == '"' || *p == '\\' ? '\'' : *p, j);
			fprintf(j, "\"}%s\n", k + 1 < NK ? "," : "");
			continue;
		}
		fprintf(j, ", \"note\": \"%s\",\n      ", S->ctl[k][READER1].note);
		json_fig(j, "read_ns", F.a[k]);
		fprintf(j, ", \"reads_per_round\": %" PRIu64 ",\n      ", F.read_ops[k]);
		json_fig(j, "reads_per_s_1_reader", F.b1[k]);
		fprintf(j, ", ");
		json_fig(j, "reads_per_s_2_readers", F.b2[k]);
		fprintf(j, ", \"scaling\": %.4f, ", F.scaling[k]);
		json_fig(j, "scaling_paired", F.bpaired[k]);
		fprintf(j, ",\n      \"write\": [");
		for (int s = 0; s < N_SIZES; s++) {
			fprintf(j, "{\"size\": %" PRIu64 ", \"reps\": %" PRIu64 ", ", write_sizes[s],
				F.c_reps[k][s]);
			json_fig(j, "ns", F.c[k][s]);
			fprintf(j, ", ");
			json_fig(j, "gbps", F.cg[k][s]);
			fprintf(j, ", \"vs_memcpy\": %.4f}%s", F.cg[k][s].med / F.cg[MEMCPY][s].med,
				s + 1 < N_SIZES ? ", " : "");
		}
		fprintf(j, "],\n      \"writer_latency_us\": {");
		json_tail(j, F.p50[k], F.p99[k], F.pmax[k]);
		fprintf(j, ", \"writes\": %" PRIu64 ", \"late\": %" PRIu64 ", ", F.d_writes[k], F.d_late[k]);
		json_fig(j, "p99_1_reader", F.p99_1r[k]);
		fprintf(j, "},\n      \"torn_reads\": %" PRIu64 ", \"stale_reads\": %" PRIu64 "}%s\n",
			F.torn[k], F.stale[k], k + 1 < NK ? "," : "");
	}
	fprintf(j, "  ],\n");
	for (int b = MEMCPY; b < NB; b++) {
		fprintf(j, "  \"%s\": [", b == MEMCPY ? "memcpy" : "memcpy_2_buffers");
		for (int s = 0; s < N_SIZES; s++) {
			fprintf(j, "{\"size\": %" PRIu64 ", \"reps\": %" PRIu64 ", ", write_sizes[s],
				F.c_reps[b][s]);
			json_fig(j, "ns", F.c[b][s]);
			fprintf(j, ", ");
			json_fig(j, "gbps", F.cg[b][s]);
			fprintf(j, "}%s", s + 1 < N_SIZES ? ", " : "");
		}
		fprintf(j, "],\n");
	}
	if (!F.quick && !unavailable[K_FENCELESS]) {
		fprintf(j, "  \"membarrier_alone_us\": {");
		json_tail(j, F.e50, F.e99, F.emax);
		fprintf(j, "},\n");
	}
	fprintf(j, "  \"targets\": [\n");
	for (int i = 0; i < n_targets; i++) {
		const struct target *t = &T[i];
		fprintf(j, "    {\"what\": \"%s\", ", t->what);
		if (target_measured(t))
			fprintf(j, "\"value\": %.4f, \"limit\": %.4f, \"at_most\": %s, \"met\": %s}", t->value,
				t->limit, t->at_most ? "true" : "false", target_met(t) ? "true" : "false");
		else
			fprintf(j, "\"limit\": %.4f, \"at_most\": %s, \"met\": null}", t->limit,
				t->at_most ? "true" : "false");
		fprintf(j, "%s\n", i + 1 < n_targets ? "," : "");
	}
	fprintf(j, "  ],\n  \"elapsed_s\": %.1f, \"other_cpu_s\": %.1f\n}\n", F.elapsed_s, F.other_cpu_s);
}
