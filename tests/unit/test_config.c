/* test_config.c - settings from the environment: defaults, scoping, and errors that name the variable */
#include <stdlib.h>

#include "svc_test.h"

struct conf {
	long long	 n;
	int		 flag;
	char		*name;
};

static const struct svc_conf_def defs[] = {
	{ "SHOPLAB_T_N",	SVC_CONF_INT,  "7",	1, 100,	offsetof(struct conf, n) },
	{ "SHOPLAB_T_FLAG",	SVC_CONF_BOOL, "off",	0, 0,	offsetof(struct conf, flag) },
	{ "SHOPLAB_T_{SVC}_NAME", SVC_CONF_STR, "dflt",	0, 8,	offsetof(struct conf, name) },
};
#define ND (sizeof(defs) / sizeof(defs[0]))

static void
clear_env(void)
{
	unsetenv("SHOPLAB_T_N");
	unsetenv("SHOPLAB_SCOPE_T_N");
	unsetenv("SHOPLAB_T_FLAG");
	unsetenv("SHOPLAB_T_SCOPE_NAME");
}

static void
test_defaults(void **state)
{
	struct conf	c = { 0, 0, NULL };
	char		err[128];

	(void)state;
	clear_env();
	assert_int_equal(svc_conf_load_scoped(defs, ND, "scope", &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 7);
	assert_int_equal(c.flag, 0);
	assert_string_equal(c.name, "dflt");
	free(c.name);
}

static void
test_scoped_overrides_global(void **state)
{
	struct conf	c = { 0, 0, NULL };
	char		err[128];

	(void)state;
	clear_env();
	setenv("SHOPLAB_T_N", "10", 1);
	setenv("SHOPLAB_SCOPE_T_N", "20", 1);
	setenv("SHOPLAB_T_FLAG", "yes", 1);
	setenv("SHOPLAB_T_SCOPE_NAME", "abc", 1);
	assert_int_equal(svc_conf_load_scoped(defs, ND, "scope", &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 20);
	assert_int_equal(c.flag, 1);
	assert_string_equal(c.name, "abc");
	free(c.name);
	c.name = NULL;
	unsetenv("SHOPLAB_SCOPE_T_N");
	assert_int_equal(svc_conf_load_scoped(defs, ND, "scope", &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 10);
	free(c.name);
	clear_env();
}

static void
test_bad_values_name_the_variable(void **state)
{
	static const struct { const char *var, *val; } bad[] = {
		{ "SHOPLAB_T_N", "0" }, { "SHOPLAB_T_N", "101" }, { "SHOPLAB_T_N", "12x" },
		{ "SHOPLAB_T_N", "" }, { "SHOPLAB_T_N", " 5" }, { "SHOPLAB_T_FLAG", "maybe" },
		{ "SHOPLAB_T_SCOPE_NAME", "waytoolong" },
		{ "SHOPLAB_T_N", "99999999999999999999999" },
	};
	struct conf	c;
	char		err[128];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		memset(&c, 0, sizeof(c));
		setenv(bad[i].var, bad[i].val, 1);
		assert_int_equal(svc_conf_load_scoped(defs, ND, "scope", &c, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i].var));
		free(c.name);
	}
	clear_env();
}

static void
test_required(void **state)
{
	static const struct svc_conf_def req[] = {
		{ "SHOPLAB_T_REQ", SVC_CONF_STR, NULL, 0, 10, offsetof(struct conf, name) },
	};
	struct conf	c = { 0, 0, NULL };
	char		err[128];

	(void)state;
	unsetenv("SHOPLAB_T_REQ");
	assert_int_equal(svc_conf_load(req, 1, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_T_REQ is required"));
}

static void
test_parsers(void **state)
{
	long long	v;
	int		b;

	(void)state;
	assert_int_equal(svc_conf_parse_ll("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(svc_conf_parse_ll("11", -10, 10, &v), -1);
	assert_int_equal(svc_conf_parse_bool("ON", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(svc_conf_parse_bool("false", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(svc_conf_parse_bool("2", &b), -1);
}

static void
test_runtime_config(void **state)
{
	struct svc_config	cfg;
	char			err[128];

	(void)state;
	setenv("SHOPLAB_DB_CATALOG_USER", "cat", 1);
	setenv("SHOPLAB_CATALOG_THREADS", "3", 1);
	/* The default listener is TCP: without the gateway's secret the service will not start. */
	assert_int_equal(svc_config_load(&cfg, "catalog", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_GATEWAY_SECRET"));
	svc_config_free(&cfg);
	setenv("SHOPLAB_GATEWAY_SECRET", "too short", 1);
	setenv("SHOPLAB_LISTEN", "unix:/nonexistent/x.sock", 1);
	assert_int_equal(svc_config_load(&cfg, "catalog", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_GATEWAY_SECRET"));
	svc_config_free(&cfg);
	unsetenv("SHOPLAB_GATEWAY_SECRET");
	/* A unix socket needs no secret: its mode and directory keep other users out. */
	assert_int_equal(svc_config_load(&cfg, "catalog", err, sizeof(err)), 0);
	svc_config_free(&cfg);
	unsetenv("SHOPLAB_LISTEN");
	setenv("SHOPLAB_GATEWAY_SECRET", "0123456789abcdef0123456789abcdef", 1);
	assert_int_equal(svc_config_load(&cfg, "catalog", err, sizeof(err)), 0);
	assert_string_equal(cfg.gateway_secret, "0123456789abcdef0123456789abcdef");
	assert_string_equal(cfg.db_user, "cat");
	assert_string_equal(cfg.db_name, "catalog");
	assert_int_equal(cfg.threads, 3);
	assert_int_equal(cfg.db_port, 3307);
	svc_config_free(&cfg);
	setenv("SHOPLAB_THREADS", "0", 1);
	unsetenv("SHOPLAB_CATALOG_THREADS");
	assert_int_equal(svc_config_load(&cfg, "catalog", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_THREADS"));
	svc_config_free(&cfg);
	unsetenv("SHOPLAB_THREADS");
	unsetenv("SHOPLAB_DB_CATALOG_USER");
	unsetenv("SHOPLAB_GATEWAY_SECRET");
}

SVC_UNIT_MAIN("config",
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_scoped_overrides_global),
    cmocka_unit_test(test_bad_values_name_the_variable),
    cmocka_unit_test(test_required),
    cmocka_unit_test(test_parsers),
    cmocka_unit_test(test_runtime_config))
