/* svc_db.c - MariaDB access: a connection per worker, prepared statements, reconnect once */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "svc_conf_int.h"
#include "svc_db_int.h"
#include "svc_nodes_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"

#define SVC_DB_MAX_PARAMS 32

struct svc_rows {
	MYSQL_STMT	*stmt;
	size_t		 ncols;
	MYSQL_BIND	*bind;
	char		**names;
	int		*isint;
	int64_t		*ints;
	char		**strs;
	unsigned long	*lens;
	my_bool		*nulls;
	size_t		 nrows;
};

int
svc_db_classify(unsigned err)
{
	switch (err) {
	case 0:
		return SVC_OK;
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		return SVC_ERR_CONFLICT;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
		return SVC_ERR_DB_RETRY;
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_UNKNOWN_HOST:
	case CR_COMMANDS_OUT_OF_SYNC:
	case ER_CON_COUNT_ERROR:
	case ER_ACCESS_DENIED_ERROR:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case ER_QUERY_INTERRUPTED:
	case ER_UNKNOWN_COM_ERROR:	/* Galera: "WSREP has not yet prepared node for application use" */
	case ER_ERROR_DURING_COMMIT:	/* Galera: "not connected to Primary Component" */
	case 4031:	/* ER_CLIENT_INTERACTION_TIMEOUT */
		return SVC_ERR_DB_UNAVAILABLE;
	default:
		return SVC_ERR_INTERNAL;
	}
}

void
svc_db_close(struct svc_worker *w)
{
	size_t i;

	if (w->stmts != NULL)
		for (i = 0; i < w->srv->svc->nstmts + w->srv->db_ext.nstmts; i++)
			if (w->stmts[i] != NULL) {
				mysql_stmt_close(w->stmts[i]);
				w->stmts[i] = NULL;
			}
	if (w->db != NULL) {
		mysql_close(w->db);
		w->db = NULL;
	}
	/*
	 * in_tx stays as it was: a transaction whose connection is lost is over (rolled back by
	 * the server), and the rest of it must not run on a new connection in autocommit mode,
	 * which would commit its remaining statements one by one. svc_db_stmt refuses them until
	 * svc_db_end ends the transaction.
	 */
}

/*
 * Whether the node w->db is connected to may take work (svc_dbnodes_ready): a Galera node that
 * is not Synced (a donor, a joiner, one cut off from the primary component) is not. One
 * prepared statement, closed again; any error counts as not ready.
 */
static int
svc_db_node_ready(struct svc_worker *w)
{
	static const char q[] =
	    "SELECT @@wsrep_on, "
	    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'WSREP_READY'), "
	    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE')";
	MYSQL_STMT	*st;
	MYSQL_BIND	 b[3];
	char		 v[3][32];
	unsigned long	 len[3];
	my_bool		 isnull[3];
	int		 i, ok = 0;

	if ((st = mysql_stmt_init(w->db)) == NULL)
		return 0;
	if (mysql_stmt_prepare(st, q, sizeof(q) - 1) != 0 || mysql_stmt_execute(st) != 0)
		goto out_close;
	memset(b, 0, sizeof(b));
	for (i = 0; i < 3; i++) {
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = v[i];
		b[i].buffer_length = sizeof(v[i]) - 1;
		b[i].length = &len[i];
		b[i].is_null = &isnull[i];
	}
	if (mysql_stmt_bind_result(st, b) != 0 || mysql_stmt_fetch(st) != 0)
		goto out_close;
	for (i = 0; i < 3; i++)
		v[i][isnull[i] || len[i] >= sizeof(v[i]) ? 0 : len[i]] = '\0';
	ok = svc_dbnodes_ready(isnull[0] ? NULL : v[0], isnull[1] ? NULL : v[1],
	    isnull[2] ? NULL : v[2]);
out_close:
	mysql_stmt_close(st);
	return ok;
}

/* Connects w->db to node (host:port, or the configured socket); SVC_OK or an svc_err. */
static int
svc_db_connect_node(struct svc_req *r, const struct svc_dbnode *node)
{
	struct svc_worker		*w = r->w;
	const struct svc_config		*c = &r->srv->cfg;
	unsigned int			 cto = (unsigned)c->db_connect_timeout;
	unsigned int			 rwto = (unsigned)c->db_rw_timeout;
	my_bool				 off = 0, on = 1;
	unsigned int			 proto = MYSQL_PROTOCOL_SOCKET;
	/* SHOPLAB_DB_SOCKET: the one database over its unix socket (the stack's default). */
	const char			*sock = c->db_socket[0] ? c->db_socket : NULL;

	if ((w->db = mysql_init(NULL)) == NULL)
		return SVC_ERR_NOMEM;
	mysql_options(w->db, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
	mysql_options(w->db, MYSQL_OPT_READ_TIMEOUT, &rwto);
	mysql_options(w->db, MYSQL_OPT_WRITE_TIMEOUT, &rwto);
	mysql_options(w->db, MYSQL_OPT_RECONNECT, &off);
	mysql_options(w->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* SHOPLAB_DB_TLS_CA: TLS only, and the server's certificate checked against that CA. */
	if (c->db_tls_ca[0] != '\0' &&
	    (mysql_options(w->db, MYSQL_OPT_SSL_CA, c->db_tls_ca) != 0 ||
	     mysql_options(w->db, MYSQL_OPT_SSL_ENFORCE, &on) != 0 ||
	     mysql_options(w->db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on) != 0)) {
		svc_log(r, "error", "database TLS options refused by the client library");
		mysql_close(w->db);
		w->db = NULL;
		return SVC_ERR_DB_UNAVAILABLE;
	}
	if (sock != NULL && mysql_options(w->db, MYSQL_OPT_PROTOCOL, &proto) != 0) {
		svc_log(r, "error", "database socket option refused by the client library");
		mysql_close(w->db);
		w->db = NULL;
		return SVC_ERR_DB_UNAVAILABLE;
	}
	if (mysql_real_connect(w->db, sock ? NULL : node->host, c->db_user, c->db_password,
	    c->db_name, node->port, sock, 0) == NULL) {
		w->db_errno = mysql_errno(w->db);
		svc_log(r, "error", "database connect to %s failed: %s (%u)",
		    sock ? sock : node->label, mysql_error(w->db), w->db_errno);
		goto fail;
	}
	if (r->srv->dbnodes.n > 1 && !svc_db_node_ready(w)) {
		w->db_errno = mysql_errno(w->db);
		svc_log(r, "warn", "database node %s is not ready (wsrep not Synced): trying another",
		    node->label);
		goto fail;
	}
	return SVC_OK;
fail:
	mysql_close(w->db);
	w->db = NULL;
	atomic_fetch_add(&r->srv->metrics.db_errors, 1);
	return SVC_ERR_DB_UNAVAILABLE;
}

/*
 * Connects the worker to the first node that answers and is ready, in svc_dbnodes_order's
 * order: the preferred node first unless it failed within the hold time. A failed node is
 * remembered so that the other workers skip it too.
 */
static int
svc_db_connect(struct svc_req *r)
{
	struct svc_worker	*w = r->w;
	struct svc_dbnodes	*ns = &r->srv->dbnodes;
	size_t			 order[SVC_DBNODES_MAX], n, k;
	int			 rc = SVC_ERR_DB_UNAVAILABLE;

	if (w->db != NULL)
		return SVC_OK;
	if (w->stmts == NULL &&
	    (w->stmts = calloc(r->srv->svc->nstmts + r->srv->db_ext.nstmts,
	    sizeof(*w->stmts))) == NULL)
		return SVC_ERR_NOMEM;
	n = svc_dbnodes_order(ns, svc_now_us(), order);
	for (k = 0; k < n; k++) {
		if ((rc = svc_db_connect_node(r, &ns->node[order[k]])) == SVC_OK) {
			w->db_node = order[k];
			w->db_since_us = svc_now_us();
			w->db_session_rc = 0;	/* a new session has the server's isolation */
			svc_dbnodes_used(ns, order[k]);
			return SVC_OK;
		}
		if (rc == SVC_ERR_NOMEM)
			return rc;
		if (n > 1)
			svc_dbnodes_failed(ns, order[k], svc_now_us());
		if (atomic_load(&r->srv->stopping))
			break;
	}
	return rc;
}

/* Records a failure of the connection or of stmt and maps it to an svc_err. */
static int
svc_db_fail(struct svc_req *r, MYSQL_STMT *stmt, const char *what)
{
	struct svc_worker	*w = r->w;
	int			 cls;

	w->db_errno = stmt ? mysql_stmt_errno(stmt) : mysql_errno(w->db);
	cls = svc_db_classify(w->db_errno);
	if (cls != SVC_ERR_CONFLICT)
		svc_log(r, cls == SVC_ERR_DB_RETRY ? "warn" : "error", "database %s failed: %s (%u)",
		    what, stmt ? mysql_stmt_error(stmt) : mysql_error(w->db), w->db_errno);
	atomic_fetch_add(&r->srv->metrics.db_errors, 1);
	if (cls == SVC_ERR_DB_UNAVAILABLE)
		svc_db_close(w);
	return cls;
}

int
svc_db_register(struct svc_server *srv, const char *const *stmts, size_t nstmts,
    void (*after_commit)(void))
{
	if (srv->db_ext.stmts != NULL || srv->db_ext.after_commit != NULL)
		return -1;
	srv->db_ext.stmts = stmts;
	srv->db_ext.nstmts = nstmts;
	srv->db_ext.after_commit = after_commit;
	return 0;
}

const char *
svc_db_stmt_sql(const struct svc_server *srv, int idx)
{
	size_t i;

	if (idx < 0)
		return NULL;
	i = (size_t)idx;
	if (i < srv->svc->nstmts)
		return srv->svc->stmts[i];
	i -= srv->svc->nstmts;
	return i < srv->db_ext.nstmts ? srv->db_ext.stmts[i] : NULL;
}

void
svc_db_ended(struct svc_worker *w, int commit, int rc)
{
	void (*hook)(void) = w->srv->db_ext.after_commit;

	/* What the transaction wrote is visible now: the registered part may act on it. */
	if (commit && rc == SVC_OK && w->after_commit && hook != NULL)
		hook();
	/* Work the transaction made due (svc_bg_due): the background thread may sleep until it. */
	if (commit && rc == SVC_OK && w->bg_due_us != 0)
		svc_bg_post(w->srv, w->bg_due_us);
	w->after_commit = 0;
	w->bg_due_us = 0;
}

static int
svc_db_stmt(struct svc_req *r, int idx, MYSQL_STMT **out)
{
	struct svc_worker	*w = r->w;
	const char		*sql;
	MYSQL_STMT		*st;
	my_bool			 on = 1;
	int			 rc;

	/* The service's statements, then the registered ones (svc_db_register). */
	if ((sql = svc_db_stmt_sql(r->srv, idx)) == NULL)
		return SVC_ERR_INTERNAL;
	if (w->in_tx && w->db == NULL)
		return SVC_ERR_DB_UNAVAILABLE;	/* the transaction's connection is gone */
	if ((rc = svc_db_connect(r)) != SVC_OK)
		return rc;
	if ((st = w->stmts[idx]) == NULL) {
		if ((st = mysql_stmt_init(w->db)) == NULL)
			return svc_db_fail(r, NULL, "statement init");
		if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
			rc = svc_db_fail(r, st, "prepare");
			mysql_stmt_close(st);
			return rc;
		}
		mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
		w->stmts[idx] = st;
	}
	*out = st;
	return SVC_OK;
}

struct svc_db_params {
	MYSQL_BIND	 bind[SVC_DB_MAX_PARAMS];
	long long	 ints[SVC_DB_MAX_PARAMS];
	unsigned long	 lens[SVC_DB_MAX_PARAMS];
	my_bool		 nulls[SVC_DB_MAX_PARAMS];
	size_t		 n;
};

static int
svc_db_params(struct svc_db_params *p, const char *types, va_list ap)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; types[i] != '\0'; i++) {
		MYSQL_BIND *b = &p->bind[i];

		if (i == SVC_DB_MAX_PARAMS)
			return SVC_ERR_INTERNAL;
		switch (types[i]) {
		case 'i':
			p->ints[i] = va_arg(ap, int64_t);
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &p->ints[i];
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			b->buffer_type = MYSQL_TYPE_STRING;
			if (s == NULL) {
				p->nulls[i] = 1;
				b->is_null = &p->nulls[i];
			} else {
				b->buffer = (void *)(uintptr_t)s;
				p->lens[i] = strlen(s);
			}
			b->buffer_length = p->lens[i];
			b->length = &p->lens[i];
			break;
		}
		case 'b':
			b->buffer_type = MYSQL_TYPE_BLOB;
			b->buffer = (void *)(uintptr_t)va_arg(ap, const void *);
			p->lens[i] = (unsigned long)va_arg(ap, size_t);
			b->buffer_length = p->lens[i];
			b->length = &p->lens[i];
			break;
		default:
			return SVC_ERR_INTERNAL;
		}
	}
	p->n = i;
	return SVC_OK;
}

/*
 * Prepares (if needed), binds the parameters (types, ap) and executes statement idx. A lost
 * connection outside a transaction is retried once on a fresh connection: nothing can have
 * been half-done.
 */
static int
svc_db_run(struct svc_req *r, int idx, const char *types, va_list ap, MYSQL_STMT **out)
{
	struct svc_worker	*w = r->w;
	struct svc_db_params	 params, *p = &params;
	MYSQL_STMT		*st = NULL;
	int			 attempt, rc;

	if ((rc = svc_db_params(p, types, ap)) != SVC_OK)
		return rc;
	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = svc_db_stmt(r, idx, &st)) != SVC_OK)
			goto retry;
		if (mysql_stmt_param_count(st) != p->n) {
			svc_log(r, "error", "statement %d wants %lu parameters, got %zu", idx,
			    mysql_stmt_param_count(st), p->n);
			return SVC_ERR_INTERNAL;
		}
		if (p->n > 0 && mysql_stmt_bind_param(st, p->bind) != 0)
			return svc_db_fail(r, st, "bind");
		if (mysql_stmt_execute(st) != 0) {
			rc = svc_db_fail(r, st, "execute");
			goto retry;
		}
		w->db_errno = 0;
		*out = st;
		return SVC_OK;
retry:
		if (rc != SVC_ERR_DB_UNAVAILABLE || w->in_tx || attempt == 1 ||
		    atomic_load(&r->srv->stopping))
			return rc;
		atomic_fetch_add(&r->srv->metrics.db_reconnects, 1);
	}
	return rc;
}

int
svc_db_exec(struct svc_req *r, int idx, const char *types, ...)
{
	MYSQL_STMT	*st;
	va_list		 ap;
	int		 rc;

	va_start(ap, types);
	rc = svc_db_run(r, idx, types, ap, &st);
	va_end(ap);
	if (rc != SVC_OK)
		return rc;
	r->w->affected = mysql_stmt_affected_rows(st);
	r->w->insert_id = mysql_stmt_insert_id(st);
	mysql_stmt_free_result(st);
	return SVC_OK;
}

int
svc_db_query_ids(struct svc_req *r, int stmt, int64_t limit, int64_t *ids, size_t cap,
    size_t *n)
{
	struct svc_rows	*rows = NULL;
	int		 rc;

	*n = 0;
	if ((rc = svc_db_query(r, stmt, &rows, "i", limit)) != SVC_OK)
		return rc;
	while (*n < cap && svc_rows_next(rows) == 1)
		ids[(*n)++] = svc_rows_int(rows, 0);
	svc_rows_free(rows);
	return SVC_OK;
}

static int
svc_rows_isint(enum enum_field_types t)
{
	switch (t) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_YEAR:
		return 1;
	default:
		return 0;
	}
}

int
svc_db_query(struct svc_req *r, int idx, struct svc_rows **out, const char *types, ...)
{
	struct svc_rows		*rows = NULL;
	MYSQL_STMT		*st;
	MYSQL_RES		*meta = NULL;
	MYSQL_FIELD		*f;
	va_list			 ap;
	size_t			 i;
	int			 rc;

	*out = NULL;
	va_start(ap, types);
	rc = svc_db_run(r, idx, types, ap, &st);
	va_end(ap);
	if (rc != SVC_OK)
		return rc;
	rc = SVC_ERR_NOMEM;
	if ((rows = calloc(1, sizeof(*rows))) == NULL)
		goto out_free_result;
	rows->stmt = st;
	if (mysql_stmt_store_result(st) != 0) {
		rc = svc_db_fail(r, st, "store result");
		goto out_free_rows;
	}
	if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
		rc = SVC_ERR_INTERNAL;
		goto out_free_rows;
	}
	rows->ncols = mysql_num_fields(meta);
	rows->nrows = (size_t)mysql_stmt_num_rows(st);
	f = mysql_fetch_fields(meta);
	if ((rows->bind = calloc(rows->ncols, sizeof(*rows->bind))) == NULL ||
	    (rows->names = calloc(rows->ncols, sizeof(*rows->names))) == NULL ||
	    (rows->isint = calloc(rows->ncols, sizeof(*rows->isint))) == NULL ||
	    (rows->ints = calloc(rows->ncols, sizeof(*rows->ints))) == NULL ||
	    (rows->strs = calloc(rows->ncols, sizeof(*rows->strs))) == NULL ||
	    (rows->lens = calloc(rows->ncols, sizeof(*rows->lens))) == NULL ||
	    (rows->nulls = calloc(rows->ncols, sizeof(*rows->nulls))) == NULL)
		goto out_free_rows;
	for (i = 0; i < rows->ncols; i++) {
		MYSQL_BIND *b = &rows->bind[i];

		if ((rows->names[i] = strdup(f[i].name)) == NULL)
			goto out_free_rows;
		b->is_null = &rows->nulls[i];
		b->length = &rows->lens[i];
		if ((rows->isint[i] = svc_rows_isint(f[i].type))) {
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &rows->ints[i];
			b->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
		} else {
			/* Temporal and decimal columns arrive as text; 64 covers their widths. */
			size_t cap = f[i].max_length + 1 > 64 ? f[i].max_length + 1 : 64;
			if ((rows->strs[i] = malloc(cap)) == NULL)
				goto out_free_rows;
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = rows->strs[i];
			b->buffer_length = cap;
		}
	}
	if (mysql_stmt_bind_result(st, rows->bind) != 0) {
		rc = svc_db_fail(r, st, "bind result");
		goto out_free_rows;
	}
	mysql_free_result(meta);
	*out = rows;
	return SVC_OK;
out_free_rows:
	if (meta != NULL)
		mysql_free_result(meta);
	svc_rows_free(rows);
	return rc;
out_free_result:
	mysql_stmt_free_result(st);
	return rc;
}

int
svc_rows_next(struct svc_rows *rows)
{
	size_t	i;
	int	rc = mysql_stmt_fetch(rows->stmt);

	if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
		return 0;
	for (i = 0; i < rows->ncols; i++)
		if (!rows->isint[i] && !rows->nulls[i]) {
			size_t n = rows->lens[i] < rows->bind[i].buffer_length ?
			    rows->lens[i] : rows->bind[i].buffer_length - 1;
			rows->strs[i][n] = '\0';
			rows->lens[i] = n;
		}
	return 1;
}

size_t
svc_rows_count(const struct svc_rows *rows)
{
	return rows->nrows;
}

int
svc_rows_isnull(const struct svc_rows *rows, size_t col)
{
	return col >= rows->ncols || rows->nulls[col];
}

int64_t
svc_rows_int(const struct svc_rows *rows, size_t col)
{
	if (col >= rows->ncols || rows->nulls[col])
		return 0;
	if (rows->isint[col])
		return rows->ints[col];
	return strtoll(rows->strs[col], NULL, 10);
}

const char *
svc_rows_str(const struct svc_rows *rows, size_t col, size_t *len)
{
	if (col >= rows->ncols || rows->nulls[col] || rows->isint[col]) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = rows->lens[col];
	return rows->strs[col];
}

void
svc_rows_copy(const struct svc_rows *rows, size_t col, char *out, size_t outlen)
{
	const char *s = svc_rows_str(rows, col, NULL);

	snprintf(out, outlen, "%s", s != NULL ? s : "");
}

json_object *
svc_rows_json(const struct svc_rows *rows)
{
	json_object	*o, *v;
	size_t		 i;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	for (i = 0; i < rows->ncols; i++) {
		if (rows->nulls[i])
			v = NULL;
		else if (rows->isint[i])
			v = json_object_new_int64(rows->ints[i]);
		else if ((v = json_object_new_string_len(rows->strs[i], (int)rows->lens[i])) == NULL)
			goto fail;
		if (rows->isint[i] && !rows->nulls[i] && v == NULL)
			goto fail;
		if (json_object_object_add(o, rows->names[i], v) != 0) {
			json_object_put(v);
			goto fail;
		}
	}
	return o;
fail:
	json_object_put(o);
	return NULL;
}

int
svc_rows_json_append(const struct svc_rows *rows, struct svc_buf *out)
{
	size_t i;

	svc_buf_append(out, "{", 1);
	for (i = 0; i < rows->ncols; i++) {
		if (i > 0)
			svc_buf_append(out, ",", 1);
		svc_json_append_str(out, rows->names[i], strlen(rows->names[i]));
		svc_buf_append(out, ":", 1);
		if (rows->nulls[i])
			svc_buf_append(out, "null", 4);
		else if (rows->isint[i])
			svc_buf_append_ll(out, (long long)rows->ints[i]);
		else
			svc_json_append_str(out, rows->strs[i], rows->lens[i]);
	}
	svc_buf_append(out, "}", 1);
	return out->failed ? -1 : 0;
}

void
svc_rows_free(struct svc_rows *rows)
{
	size_t i;

	if (rows == NULL)
		return;
	mysql_stmt_free_result(rows->stmt);
	for (i = 0; i < rows->ncols; i++) {
		if (rows->names != NULL)
			free(rows->names[i]);
		if (rows->strs != NULL)
			free(rows->strs[i]);
	}
	free(rows->bind);
	free(rows->names);
	free(rows->isint);
	free(rows->ints);
	free(rows->strs);
	free(rows->lens);
	free(rows->nulls);
	free(rows);
}

uint64_t
svc_db_affected(const struct svc_req *r)
{
	return r->w->affected;
}

uint64_t
svc_db_insert_id(const struct svc_req *r)
{
	return r->w->insert_id;
}

unsigned
svc_db_errno(const struct svc_req *r)
{
	return r->w->db_errno;
}

/*
 * The session's isolation: READ COMMITTED or the server's default, REPEATABLE READ. Set only
 * when it changes (once per connection for the relay, which asks for it on every batch).
 */
static int
svc_db_isolation(struct svc_worker *w, int read_committed)
{
	static const char	rc_sql[] = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
	static const char	rr_sql[] = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";

	if (w->db_session_rc == read_committed)
		return 0;
	if (mysql_real_query(w->db, read_committed ? rc_sql : rr_sql,
	    read_committed ? sizeof(rc_sql) - 1 : sizeof(rr_sql) - 1) != 0)
		return -1;
	w->db_session_rc = read_committed;
	return 0;
}

/*
 * Begins a transaction: START TRANSACTION, not autocommit off and on again (one round trip per
 * transaction instead of three; the connection stays in autocommit mode and COMMIT or ROLLBACK
 * ends the transaction by itself). read_committed: the transaction runs READ COMMITTED (the
 * session's level, svc_db_isolation). Fixed control statements without parameters: there is
 * nothing to prepare.
 */
int
svc_db_begin(struct svc_req *r, int read_committed)
{
	static const char	 begin_sql[] = "START TRANSACTION";
	struct svc_worker	*w = r->w;
	int			 attempt, rc = SVC_ERR_INTERNAL;

	/* A worker that failed over returns to the preferred node at a transaction's start. */
	if (w->db != NULL && !w->in_tx &&
	    svc_dbnodes_should_return(&r->srv->dbnodes, w->db_node, w->db_since_us,
	    svc_now_us()))
		svc_db_close(w);
	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = svc_db_connect(r)) != SVC_OK)
			continue;
		if (svc_db_isolation(w, read_committed != 0) == 0 &&
		    mysql_real_query(w->db, begin_sql, sizeof(begin_sql) - 1) == 0) {
			w->in_tx = 1;
			return SVC_OK;
		}
		rc = svc_db_fail(r, NULL, "begin");
		if (rc != SVC_ERR_DB_UNAVAILABLE)
			break;
	}
	return rc;
}

int
svc_db_end(struct svc_req *r, int commit)
{
	struct svc_worker	*w = r->w;
	int			 rc = SVC_OK;

	if (w->db == NULL || !w->in_tx) {
		w->in_tx = 0;	/* a lost connection took the transaction with it */
		svc_db_ended(w, 0, SVC_OK);	/* nothing it asked for after its commit holds */
		return commit ? SVC_ERR_DB_UNAVAILABLE : SVC_OK;
	}
	if ((commit ? mysql_commit(w->db) : mysql_rollback(w->db)) != 0)
		rc = svc_db_fail(r, NULL, commit ? "commit" : "rollback");
	w->in_tx = 0;
	svc_db_ended(w, commit, rc);
	return rc;
}

int
svc_db_ping(struct svc_req *r)
{
	int rc;

	if ((rc = svc_db_connect(r)) != SVC_OK)
		return rc;
	if (mysql_ping(r->w->db) != 0)
		return svc_db_fail(r, NULL, "ping");
	return SVC_OK;
}

int
svc_db_tx(struct svc_req *r, int (*fn)(struct svc_req *r, void *arg), void *arg)
{
	int64_t		delay = 2000, now;
	uint64_t	rng = (uint64_t)svc_now_us() ^ (uintptr_t)r;
	int		attempt, rc = SVC_ERR_INTERNAL;

	for (attempt = 0; attempt < 8; attempt++) {
		if ((rc = svc_db_begin(r, SVC_DB_REPEATABLE_READ)) == SVC_OK) {
			rc = fn(r, arg);
			if (rc == SVC_OK) {
				/*
				 * A commit that fails may still have happened: never run it again,
				 * except after a deadlock, which is a definite "rolled back" (it is
				 * how Galera reports a certification failure).
				 */
				rc = svc_db_end(r, SVC_DB_COMMIT);
				if (rc != SVC_ERR_DB_RETRY || r->w->db_errno != ER_LOCK_DEADLOCK)
					return rc;
				svc_log(r, "warn", "commit refused (deadlock or certification failure): "
				    "the transaction was rolled back; running it again");
			} else {
				svc_db_end(r, SVC_DB_ROLLBACK);
			}
		}
		if (rc != SVC_ERR_DB_RETRY && rc != SVC_ERR_DB_UNAVAILABLE)
			return rc;
		/* Deadlocks and lost connections are safe to retry: nothing was committed. */
		now = svc_now_us();
		delay = svc_backoff_delay(2000, 200000, attempt, r->deadline_us - now, &rng);
		if (delay == SVC_BACKOFF_NO_TIME || atomic_load(&r->srv->stopping))
			return rc;
		svc_sleep_us(NULL, delay);
	}
	return rc;
}

int
svc_reply_page(struct svc_req *r, struct svc_rows *rows, int64_t limit)
{
	json_object	*root = NULL, *items, *row;
	int64_t		 last = 0;
	size_t		 n = 0;
	int		 rc = SVC_ERR_NOMEM;

	if ((root = json_object_new_object()) == NULL || (items = json_object_new_array()) == NULL)
		goto out;
	json_object_object_add(root, "items", items);
	while (svc_rows_next(rows)) {
		if (++n > (size_t)limit)
			break;
		if ((row = svc_rows_json(rows)) == NULL)
			goto out;
		json_object_array_add(items, row);
		last = svc_rows_int(rows, 0);
	}
	json_object_object_add(root, "next", n > (size_t)limit ? json_object_new_int64(last) : NULL);
	rc = svc_reply_json(r, 200, root);
	root = NULL;
out:
	json_object_put(root);
	svc_rows_free(rows);
	return rc == SVC_OK ? SVC_OK : svc_reply_err(r, rc);
}
