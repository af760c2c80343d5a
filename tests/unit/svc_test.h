/* svc_test.h - a fake request for unit tests of the runtime: params in, response captured */
#ifndef SVC_TEST_H
#define SVC_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"
#include "svc_unit.h"

struct svc_test_req {
	struct svc_req		r;
	struct svc_server	srv;
	struct svc_service	svc;
	FCGX_Request		fcgx;
	struct svc_buf		out;
	char			*env[16];
};

/* env: NULL-terminated "NAME=value" strings (FastCGI params); query may be NULL. */
static inline void
svc_test_req_init(struct svc_test_req *t, const char *method, const char *query,
    char **env)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->svc.name = "test";
	t->srv.svc = &t->svc;
	t->srv.cfg.max_body = 65536;
	for (i = 0; env != NULL && env[i] != NULL && i < 15; i++)
		t->env[i] = env[i];
	t->fcgx.envp = t->env;
	t->r.srv = &t->srv;
	t->r.fcgx = &t->fcgx;
	t->r.method = method;
	t->r.path = "/";
	t->r.query = query;
	snprintf(t->r.rid, sizeof(t->r.rid), "rid-1");
	svc_buf_init(&t->out);
	svc_buf_init(&t->r.headers);
	t->r.capture = &t->out;
}

static inline void
svc_test_req_free(struct svc_test_req *t)
{
	svc_req_run_deferred(&t->r);
	svc_buf_free(&t->out);
	svc_buf_free(&t->r.headers);
}

/* The JSON body of the captured response (after the blank line), parsed; caller puts it. */
static inline json_object *
svc_test_body(const struct svc_test_req *t)
{
	const char *p = t->out.data ? strstr(t->out.data, "\r\n\r\n") : NULL;

	return p ? json_tokener_parse(p + 4) : NULL;
}

/* Asserts the contract's error shape with status, code and (if not NULL) field. */
static inline void
svc_test_assert_error(const struct svc_test_req *t, int status, const char *code,
    const char *field)
{
	json_object *b = svc_test_body(t), *e, *v;

	assert_int_equal(t->r.status, status);
	assert_non_null(b);
	assert_true(json_object_object_get_ex(b, "error", &e));
	assert_true(json_object_object_get_ex(e, "code", &v));
	assert_string_equal(json_object_get_string(v), code);
	assert_true(json_object_object_get_ex(e, "message", &v));
	assert_true(json_object_get_string_len(v) > 0);
	assert_true(json_object_object_get_ex(e, "request_id", &v));
	assert_string_equal(json_object_get_string(v), "rid-1");
	if (field != NULL) {
		assert_true(json_object_object_get_ex(e, "field", &v));
		assert_string_equal(json_object_get_string(v), field);
	}
	assert_non_null(strstr(t->out.data, "Content-Type: application/json\r\n"));
	json_object_put(b);
}

#endif /* SVC_TEST_H */
