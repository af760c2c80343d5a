/* svc_ev_replay.c - ops routes on dead letters: list, show one, replay one or all (republish the original envelope) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include <amqp.h>

#include "svc_server_int.h"
#include "svc_ev_internal.h"

#define SVC_EV_REPLAY_ALL_MAX	1000

/*
 * A connection for the replay of dead letters (an ops request's thread): publisher confirms
 * on, the first broker node that answers. Not one of the threads' node slots. NULL: none.
 */
void *
svc_events_replay_open(struct svc_server *srv)
{
	size_t used;

	if (srv->events == NULL)
		return NULL;
	return svc_ev_connect_any(srv->events, 1, "replay", &used);
}

void
svc_events_replay_close(void *conn)
{
	amqp_connection_state_t c = conn;

	svc_ev_close(&c);
}

/*
 * Republishes one recorded envelope, its original id as message_id, to shoplab.replay with
 * the service's own name as routing key: it reaches <service>.events and nothing else (the
 * broker user's topic permission). *tag: the channel's last delivery tag (0 after open).
 * Returns 0 once the broker confirmed it, -1 otherwise (the connection is then unusable).
 */
int
svc_events_replay_publish(struct svc_server *srv, void *conn, uint64_t *tag, const char *id,
    const char *type, const char *body, size_t len)
{
	struct svc_events_rt	*rt = srv->events;
	amqp_connection_state_t	 c = conn;
	amqp_basic_properties_t	 props;
	amqp_bytes_t		 b = { len, (void *)(uintptr_t)body };
	int			 st;

	if (rt == NULL || c == NULL)
		return -1;
	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_APP_ID_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = 2;
	props.message_id = amqp_cstring_bytes(id);
	props.app_id = amqp_cstring_bytes(srv->svc->name);
	if (type != NULL && type[0] != '\0') {
		props._flags |= AMQP_BASIC_TYPE_FLAG;
		props.type = amqp_cstring_bytes(type);
	}
	st = amqp_basic_publish(c, SVC_EV_CHANNEL, amqp_cstring_bytes(SVC_EV_REPLAY_EXCHANGE),
	    amqp_cstring_bytes(srv->svc->name), 1, 0, &props, b);
	if (st != AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp replay: publish: %s", amqp_error_string2(st));
		return -1;
	}
	(*tag)++;
	if (svc_ev_confirms(rt, c, *tag, *tag) != 0)
		return -1;
	atomic_fetch_add(&rt->replays, 1);
	return 0;
}

int
svc_events_deadletters(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	json_object	*items, *o, *body;
	int64_t		 limit;
	int		 rc;

	if (r->srv->svc->events == NULL || r->srv->svc->events->nsubs == 0)
		return svc_reply_error(r, 404, "not_found", "%s consumes no events",
		    r->srv->svc->name);
	if (svc_query_int_or_reply(r, "limit", 1, 1000, 100, &limit) != SVC_OK)
		return SVC_ERR_REPLIED;
	if ((rc = svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_LIST), &rows, "i", limit)) != SVC_OK)
		return svc_reply_err(r, rc);
	if ((items = json_object_new_array()) == NULL) {
		svc_rows_free(rows);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	while (svc_rows_next(rows) == 1) {
		size_t		 len;
		const char	*b;

		if ((o = svc_rows_json(rows)) == NULL)
			continue;
		/* The envelope as JSON when it parses, else as the string it was. */
		b = svc_rows_str(rows, 5, &len);
		if (b != NULL && (body = json_tokener_parse(b)) != NULL)
			json_object_object_add(o, "body", body);
		json_object_array_add(items, o);
	}
	svc_rows_free(rows);
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(items);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	json_object_object_add(o, "service", json_object_new_string(r->srv->svc->name));
	json_object_object_add(o, "items", items);
	return svc_reply_json(r, 200, o);
}

/* 404 unless this service consumes events (the tables exist only there). */
static int
svc_evr_consumer_or_reply(struct svc_req *r)
{
	if (r->srv->svc->events == NULL || r->srv->svc->events->nsubs == 0 || r->srv->events == NULL) {
		svc_reply_error(r, 404, "not_found", "%s consumes no events", r->srv->svc->name);
		return -1;
	}
	return 0;
}

int
svc_events_deadletter_show(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	json_object	*o, *body;
	const char	*b;
	size_t		 len;
	int64_t		 seq;
	int		 rc;

	if (svc_evr_consumer_or_reply(r) != 0)
		return SVC_ERR_REPLIED;
	if (svc_path_id_or_reply(r, "seq", "dead letter", &seq) != SVC_OK)
		return SVC_ERR_REPLIED;
	if ((rc = svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_GET), &rows, "i", seq)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (svc_rows_next(rows) != 1) {
		svc_rows_free(rows);
		return svc_reply_error(r, 404, "not_found", "no dead letter %lld", (long long)seq);
	}
	if ((o = svc_rows_json(rows)) == NULL) {
		svc_rows_free(rows);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	/* The envelope as JSON when it parses, else as the string it was. */
	b = svc_rows_str(rows, 5, &len);
	if (b != NULL && (body = json_tokener_parse(b)) != NULL)
		json_object_object_add(o, "body", body);
	svc_rows_free(rows);
	json_object_object_add(o, "service", json_object_new_string(r->srv->svc->name));
	return svc_reply_json(r, 200, o);
}

/* One replay in one transaction: lock the row, republish, mark it replayed, commit. */
struct svc_evr_one {
	void		*conn;
	uint64_t	*tag;
	int64_t		 seq;
	char		 msg_id[SVC_EVENT_ID_MAX + 1];
	int		 found;
};

static int
svc_evr_one_tx(struct svc_req *r, void *arg)
{
	struct svc_evr_one	*a = arg;
	struct svc_rows		*rows = NULL;
	const char		*id, *type, *body;
	size_t			 ilen, tlen, blen;
	int			 rc;

	a->found = 0;
	if ((rc = svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_LOCK), &rows, "i", a->seq)) != SVC_OK)
		return rc;
	if (svc_rows_next(rows) != 1) {
		svc_rows_free(rows);
		return SVC_ERR_NOT_FOUND;
	}
	a->found = 1;
	id = svc_rows_str(rows, 0, &ilen);
	type = svc_rows_str(rows, 1, &tlen);
	body = svc_rows_str(rows, 2, &blen);
	snprintf(a->msg_id, sizeof(a->msg_id), "%s", id != NULL ? id : "");
	/*
	 * A commit that fails after the broker confirmed leaves the row unmarked: a second replay
	 * then republishes, and the consumer's inbox drops the duplicate.
	 */
	if (id == NULL || body == NULL || svc_events_replay_publish(r->srv, a->conn, a->tag, id,
	    type, body, blen) != 0) {
		svc_rows_free(rows);
		return SVC_ERR_UNAVAILABLE;
	}
	svc_rows_free(rows);
	return svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_DEAD_MARK), "i", a->seq);
}

static int
svc_evr_unavailable(struct svc_req *r)
{
	return svc_reply_error(r, 503, "broker_unavailable",
	    "the broker did not confirm the replay; nothing was marked");
}

int
svc_events_deadletter_replay(struct svc_req *r)
{
	struct svc_evr_one	 a;
	json_object		*o;
	uint64_t		 tag = 0;
	int			 rc;

	if (svc_evr_consumer_or_reply(r) != 0)
		return SVC_ERR_REPLIED;
	memset(&a, 0, sizeof(a));
	if (svc_path_id_or_reply(r, "seq", "dead letter", &a.seq) != SVC_OK)
		return SVC_ERR_REPLIED;
	if ((a.conn = svc_events_replay_open(r->srv)) == NULL)
		return svc_evr_unavailable(r);
	a.tag = &tag;
	rc = svc_db_tx(r, svc_evr_one_tx, &a);
	svc_events_replay_close(a.conn);
	if (rc == SVC_ERR_NOT_FOUND)
		return svc_reply_error(r, 404, "not_found", "no dead letter %lld", (long long)a.seq);
	if (rc == SVC_ERR_UNAVAILABLE)
		return svc_evr_unavailable(r);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	svc_log(r, "info", "dead letter %lld (%s) replayed", (long long)a.seq, a.msg_id);
	if ((o = json_object_new_object()) == NULL)
		return svc_reply_err(r, SVC_ERR_NOMEM);
	json_object_object_add(o, "service", json_object_new_string(r->srv->svc->name));
	json_object_object_add(o, "seq", json_object_new_int64(a.seq));
	json_object_object_add(o, "msg_id", json_object_new_string(a.msg_id));
	json_object_object_add(o, "replayed", json_object_new_boolean(1));
	return svc_reply_json(r, 200, o);
}

int
svc_events_deadletter_replay_all(struct svc_req *r)
{
	struct svc_rows		*rows = NULL;
	struct svc_evr_one	 a;
	json_object		*o, *items;
	int64_t			 limit, seqs[SVC_EV_REPLAY_ALL_MAX];
	uint64_t		 tag = 0;
	size_t			 n = 0, i, done = 0;
	int			 rc = SVC_OK;

	if (svc_evr_consumer_or_reply(r) != 0)
		return SVC_ERR_REPLIED;
	if (svc_query_int_or_reply(r, "limit", 1, SVC_EV_REPLAY_ALL_MAX, 100, &limit) != SVC_OK)
		return SVC_ERR_REPLIED;
	/* The ones not replayed yet, oldest first. */
	if ((rc = svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_PENDING), &rows, "i", limit)) != SVC_OK)
		return svc_reply_err(r, rc);
	while (n < SVC_EV_REPLAY_ALL_MAX && svc_rows_next(rows) == 1)
		seqs[n++] = svc_rows_int(rows, 0);
	svc_rows_free(rows);
	if ((items = json_object_new_array()) == NULL)
		return svc_reply_err(r, SVC_ERR_NOMEM);
	if (n > 0 && (a.conn = svc_events_replay_open(r->srv)) == NULL) {
		json_object_put(items);
		return svc_evr_unavailable(r);
	}
	for (i = 0; i < n; i++) {
		a.tag = &tag;
		a.seq = seqs[i];
		a.found = 0;
		rc = svc_db_tx(r, svc_evr_one_tx, &a);
		if (rc == SVC_ERR_NOT_FOUND) {
			rc = SVC_OK;	/* gone meanwhile */
			continue;
		}
		if (rc != SVC_OK)
			break;
		done++;
		json_object_array_add(items, json_object_new_int64(a.seq));
	}
	if (n > 0)
		svc_events_replay_close(a.conn);
	svc_log(r, "info", "%zu dead letters replayed of %zu", done, n);
	if (rc != SVC_OK && done == 0) {
		json_object_put(items);
		return rc == SVC_ERR_UNAVAILABLE ? svc_evr_unavailable(r) : svc_reply_err(r, rc);
	}
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(items);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	json_object_object_add(o, "service", json_object_new_string(r->srv->svc->name));
	json_object_object_add(o, "replayed", items);
	/* Stopped early (the broker or the database went away): the rest are still waiting. */
	json_object_object_add(o, "complete", json_object_new_boolean(rc == SVC_OK));
	return svc_reply_json(r, 200, o);
}
