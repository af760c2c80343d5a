/* svc_db_int.h - the database layer's internals: transactions, errors, a library part's statements (svc_db.c) */
#ifndef SVC_DB_INT_H
#define SVC_DB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"

struct svc_server;
struct svc_worker;

int svc_db_begin(struct svc_req *r);
/* The same, the transaction at READ COMMITTED (the relay's locking read takes no gap locks). */
int svc_db_begin_read_committed(struct svc_req *r);
int svc_db_commit(struct svc_req *r);
int svc_db_rollback(struct svc_req *r);
int svc_db_ping(struct svc_req *r);
/* MariaDB's error number of the last failed call on this thread, 0 if none. */
unsigned svc_db_errno(const struct svc_req *r);

/*
 * What a library part adds to the database layer (the events runtime does, at init): its own
 * statements, which follow the service's in every worker's statement array (index
 * svc->nstmts + i), and a hook run after each commit of a transaction that set the worker's
 * after_commit (any thread, no lock held). svc_db.c names no subsystem.
 */
struct svc_db_ext {
	const char *const	 *stmts;
	size_t			  nstmts;
	void			(*after_commit)(void);
};

size_t svc_rows_count(const struct svc_rows *rows);
void svc_db_close(struct svc_worker *w);
int  svc_db_classify(unsigned err);
/*
 * Adds a library part's statements and after-commit hook (struct svc_db_ext); once, before
 * the server's threads start. 0, or -1 when one is registered already.
 */
int  svc_db_register(struct svc_server *srv, const char *const *stmts, size_t nstmts,
	void (*after_commit)(void));
/* The SQL of statement idx: the service's, then the registered ones; NULL out of range. */
const char *svc_db_stmt_sql(const struct svc_server *srv, int idx);
/* After a transaction ended (commit: 1; rc: its result): the hook when asked and committed. */
void svc_db_ended(struct svc_worker *w, int commit, int rc);

#endif /* SVC_DB_INT_H */
