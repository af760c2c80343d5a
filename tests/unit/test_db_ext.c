/* test_db_ext.c - svc_db's registration: extra statements follow the service's; the hook runs after a commit only */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc_db_int.h"
#include "svc_server_int.h"

static int	hook_runs;

static void
count_hook(void)
{
	hook_runs++;
}

static const char *const svc_stmts[] = { "SELECT 1", "SELECT 2" };
static const char *const ext_stmts[] = { "SELECT 'a'", "SELECT 'b'", "SELECT 'c'" };

struct fixture {
	struct svc_service	svc;
	struct svc_server	srv;
	struct svc_worker	w;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->svc.name = "testsvc";
	f->svc.stmts = svc_stmts;
	f->svc.nstmts = 2;
	f->srv.svc = &f->svc;
	f->w.srv = &f->srv;
	hook_runs = 0;
}

static void
test_statements_follow_the_services(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	/* Nothing registered: the service's statements only. */
	assert_string_equal(svc_db_stmt_sql(&f.srv, 1), "SELECT 2");
	assert_null(svc_db_stmt_sql(&f.srv, 2));
	assert_null(svc_db_stmt_sql(&f.srv, -1));
	assert_int_equal(svc_db_register(&f.srv, ext_stmts, 3, count_hook), 0);
	assert_string_equal(svc_db_stmt_sql(&f.srv, 0), "SELECT 1");
	assert_string_equal(svc_db_stmt_sql(&f.srv, 2), "SELECT 'a'");
	assert_string_equal(svc_db_stmt_sql(&f.srv, 4), "SELECT 'c'");
	assert_null(svc_db_stmt_sql(&f.srv, 5));
	/* Once only: a second part would shift the first one's indexes. */
	assert_int_equal(svc_db_register(&f.srv, ext_stmts, 1, NULL), -1);
	assert_string_equal(svc_db_stmt_sql(&f.srv, 4), "SELECT 'c'");
}

/*
 * A transaction ends (committed or not, with rc) having asked for the hook or not: after it the
 * hook has run runs times in all, and the next transaction starts unasked.
 */
static void
end_tx(struct fixture *f, int asked, int committed, int rc, int runs)
{
	f->w.after_commit = asked;
	svc_db_ended(&f->w, committed, rc);
	if (hook_runs != runs || f->w.after_commit != 0)
		fail_msg("asked %d, committed %d, rc %d: hook ran %d times (want %d), asked %d after",
		    asked, committed, rc, hook_runs, runs, f->w.after_commit);
}

static void
test_hook_runs_after_commit_not_rollback(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(svc_db_register(&f.srv, ext_stmts, 3, count_hook), 0);
	/* Rolled back: the rows are gone, no wake; the request is forgotten. */
	end_tx(&f, 1, 0, SVC_OK, 0);
	/* A commit that failed: nothing became visible. */
	end_tx(&f, 1, 1, SVC_ERR_DB_UNAVAILABLE, 0);
	/* A commit nobody asked the hook for. */
	end_tx(&f, 0, 1, SVC_OK, 0);
	/* Committed and asked for: once, and the next transaction starts unasked. */
	end_tx(&f, 1, 1, SVC_OK, 1);
	end_tx(&f, 0, 1, SVC_OK, 1);
}

static void
test_no_hook_registered(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	end_tx(&f, 1, 1, SVC_OK, 0);
}

SVC_UNIT_MAIN("db_ext",
    cmocka_unit_test(test_statements_follow_the_services),
    cmocka_unit_test(test_hook_runs_after_commit_not_rollback),
    cmocka_unit_test(test_no_hook_registered))
