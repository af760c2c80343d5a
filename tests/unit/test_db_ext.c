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

static void
test_hook_runs_after_commit_not_rollback(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(svc_db_register(&f.srv, ext_stmts, 3, count_hook), 0);
	/* Rolled back: the rows are gone, no wake; the request is forgotten. */
	f.w.after_commit = 1;
	svc_db_ended(&f.w, 0, SVC_OK);
	assert_int_equal(hook_runs, 0);
	assert_int_equal(f.w.after_commit, 0);
	/* A commit that failed: nothing became visible. */
	f.w.after_commit = 1;
	svc_db_ended(&f.w, 1, SVC_ERR_DB_UNAVAILABLE);
	assert_int_equal(hook_runs, 0);
	assert_int_equal(f.w.after_commit, 0);
	/* A commit nobody asked the hook for. */
	svc_db_ended(&f.w, 1, SVC_OK);
	assert_int_equal(hook_runs, 0);
	/* Committed and asked for: once, and the next transaction starts unasked. */
	f.w.after_commit = 1;
	svc_db_ended(&f.w, 1, SVC_OK);
	assert_int_equal(hook_runs, 1);
	assert_int_equal(f.w.after_commit, 0);
	svc_db_ended(&f.w, 1, SVC_OK);
	assert_int_equal(hook_runs, 1);
}

static void
test_no_hook_registered(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.w.after_commit = 1;
	svc_db_ended(&f.w, 1, SVC_OK);
	assert_int_equal(hook_runs, 0);
	assert_int_equal(f.w.after_commit, 0);
}

SVC_UNIT_MAIN("db_ext",
    cmocka_unit_test(test_statements_follow_the_services),
    cmocka_unit_test(test_hook_runs_after_commit_not_rollback),
    cmocka_unit_test(test_no_hook_registered))
