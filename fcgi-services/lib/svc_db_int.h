/* svc_db_int.h - the database layer's internals: transactions, errors, a library part's statements (svc_db.c) */
#ifndef SVC_DB_INT_H
#define SVC_DB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"

struct svc_server;
struct svc_worker;

/* How svc_db_begin starts (READ COMMITTED: the relay's locking read takes no gap locks). */
enum { SVC_DB_REPEATABLE_READ, SVC_DB_READ_COMMITTED };
int svc_db_begin(struct svc_req *r, int read_committed);
/* How svc_db_end ends the transaction. */
enum { SVC_DB_ROLLBACK, SVC_DB_COMMIT };
int svc_db_end(struct svc_req *r, int commit);
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
