/* proxy_mysql.c - the mysql_commit_lost toxic: a COMMIT reaches MariaDB, its answer never comes back */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

/*
 * Whether the client packet at p is a COM_QUERY of "COMMIT" (any case, surrounding spaces
 * and a trailing ';' allowed). A MySQL packet is a 3-byte little-endian payload length, a
 * sequence byte, then the payload; COM_QUERY's payload is 0x03 and the SQL text.
 */
bool
sim_mysql_is_commit(const unsigned char *p, size_t n)
{
	static const char kw[] = "commit";
	size_t plen, end, i, k;

	if (n < 5 || p[4] != 0x03)
		return false;
	plen = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16;
	if (plen < 1 || plen > n - 4)
		return false;
	end = 4 + plen;
	for (i = 5; i < end && isspace(p[i]); i++)
		;
	for (k = 0; k < sizeof(kw) - 1; k++, i++)
		if (i >= end || tolower(p[i]) != kw[k])
			return false;
	while (i < end && (isspace(p[i]) || p[i] == ';'))
		i++;
	return i == end;
}

/*
 * Upstream stage: every COMMIT passes on to the server; the chosen ones (first/every, else
 * toxicity per COMMIT) mark the connection so that the first byte of the server's answer
 * resets it instead: the transaction is committed and the client can never know.
 */
void
sim_mysql_stage_run(struct sim_stage *s)
{
	struct sim_toxic	*t = s->toxic;
	struct sim_conn		*conn = s->link->conn;
	struct sim_proxy	*p = conn->proxy;
	struct sim_chunk	*c;

	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		if (c->kind == SIM_DATA && !conn->cut_on_response &&
		    sim_mysql_is_commit(c->data, c->len)) {
			uint64_t seq = ++t->requests;
			struct sim_rng rng;

			sim_rng_seed(&rng, sim_mix(sim_mix(sim_mix(p->ctx->seed, p->name_hash),
			    t->name_hash), sim_mix(seq, t->generation)));
			if (sim_fcgi_select(sim_toxic_int(t, "first"), sim_toxic_int(t, "every"),
			    t->toxicity, seq, &rng)) {
				struct sim_fault f = { .toxic = t, .conn_id = conn->id, .seq = seq,
				                       .request_id = "", .forwarded = true, .value = -1 };

				conn->cut_on_response = true;
				snprintf(conn->cut_toxic, sizeof(conn->cut_toxic), "%s", t->name);
				t->faults++;
				sim_fault_record(p->ctx, &f);
			}
		}
		sim_stage_emit(s, c);
	}
}
