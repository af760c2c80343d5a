/* cli_toxic.c - `sim toxic`: toxiproxy-cli's commands, flags, aliases and output (list, inspect, create, toggle, delete, toxic add|update|remove) */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "sim.h"

#define CLI_MAX_ATTRS 16
#define CLI_SEG_MAX 800         /* an escaped name */

enum cli_cmd { C_NONE, C_LIST, C_INSPECT, C_CREATE, C_TOGGLE, C_DELETE, C_TOXIC, C_ADD, C_UPDATE,
               C_REMOVE };

struct cli_opts {
	const char *host;
	enum cli_cmd cmd;               /* C_TOXIC until its subcommand is read */
	const char *cmd_word;           /* as typed, for messages */
	const char *proxy;
	const char *name;               /* -n */
	const char *type;               /* -t */
	const char *toxicity;           /* --tox */
	const char *listen;             /* create -l */
	const char *upstream;           /* create -u */
	bool up, down;                  /* toxic add -u, -d */
	const char *attrs[CLI_MAX_ATTRS];
	size_t nattrs;
	bool help;
};

static const char cli_toxic_usage_text[] =
	"usage: sim toxic [--host H] <command> [options] [PROXY]\n"
	"\n"
	"toxiproxy-cli for `sim proxy` (or any Toxiproxy): the same commands, aliases and flags.\n"
	"\n"
	"commands:\n"
	"  list                  (l, li, ls) every proxy: name, listen, upstream, enabled, toxics\n"
	"  inspect PROXY         (i, ins) one proxy's toxics with their attributes\n"
	"  create -l ADDR -u ADDR PROXY\n"
	"                        (c, new) a proxy listening on -l/--listen, forwarding to\n"
	"                        -u/--upstream\n"
	"  toggle PROXY          (tog) disables an enabled proxy (cutting its connections), or\n"
	"                        enables a disabled one\n"
	"  delete PROXY          (d) removes a proxy\n"
	"  toxic add -t TYPE [-n NAME] [--tox P] [-u|-d] [-a KEY=VALUE]... PROXY\n"
	"                        (t a) adds a toxic (stream: downstream, upstream for fcgi_* and\n"
	"                        mysql_*; name: TYPE_STREAM; toxicity 1.0)\n"
	"  toxic update -n NAME [--tox P] [-a KEY=VALUE]... PROXY\n"
	"                        (t u) changes a toxic's attributes or toxicity\n"
	"  toxic remove -n NAME PROXY\n"
	"                        (t r, t delete, t d) removes a toxic\n"
	"  add | update | remove the toxic subcommands without `toxic` (sim toxic's older layout)\n"
	"\n"
	"options:\n"
	"  -h, --host H         the API, host:port or http://host:port. Default: $TOXIPROXY_URL,\n"
	"                       else $SHOPLAB_PROXY_API, else SHOPLAB_PROXY_API in\n"
	"                       $SHOPLAB_RUN/shoplab.env (./run), else 127.0.0.1:8474\n"
	"  -t, --type TYPE      latency bandwidth slow_close timeout reset_peer slicer limit_data\n"
	"                       fcgi_latency fcgi_abort fcgi_reset mysql_commit_lost\n"
	"  -n, --toxicName NAME the toxic's name\n"
	"  -tox, --toxicity P   the chance (0..1) that the toxic applies\n"
	"  -a, --attribute K=V  an attribute (repeatable); integers are sent as numbers\n"
	"  -u, --upstream       toxic add: on the client -> upstream stream\n"
	"  -d, --downstream     toxic add: on the upstream -> client stream\n"
	"  -l, --listen ADDR    create: the address the proxy listens on\n"
	"  -u, --upstream ADDR  create: the address it forwards to\n"
	"  --help               this text\n"
	"\n"
	"examples (toxiproxy-cli's own):\n"
	"  sim toxic create -l localhost:26379 -u localhost:6379 redis\n"
	"  sim toxic toxic add -t latency -a latency=1000 redis\n"
	"  sim toxic toxic add -t latency -n myToxic -a latency=100 -a jitter=50 redis\n"
	"  sim toxic toxic update -n myToxic -a jitter=25 redis\n"
	"  sim toxic toxic remove -n latency_downstream redis\n"
	"  sim toxic delete redis\n"
	"\n"
	"exit status: 0 done, 1 the API refused (its message is printed), 2 bad command line,\n"
	"3 no proxy API reachable.\n";

struct cmd_name {
	const char *word;
	enum cli_cmd cmd;
};

static const struct cmd_name cli_toxic_top_cmds[] = {
	{ "list", C_LIST }, { "l", C_LIST }, { "li", C_LIST }, { "ls", C_LIST },
	{ "inspect", C_INSPECT }, { "i", C_INSPECT }, { "ins", C_INSPECT },
	{ "create", C_CREATE }, { "c", C_CREATE }, { "new", C_CREATE },
	{ "toggle", C_TOGGLE }, { "tog", C_TOGGLE },
	{ "delete", C_DELETE }, { "d", C_DELETE },
	{ "toxic", C_TOXIC }, { "t", C_TOXIC },
	/* sim toxic's older layout: the toxic subcommands at the top */
	{ "add", C_ADD }, { "update", C_UPDATE }, { "remove", C_REMOVE },
	{ NULL, C_NONE }
};

static const struct cmd_name cli_toxic_toxic_cmds[] = {
	{ "add", C_ADD }, { "a", C_ADD },
	{ "update", C_UPDATE }, { "u", C_UPDATE },
	{ "remove", C_REMOVE }, { "r", C_REMOVE }, { "delete", C_REMOVE }, { "d", C_REMOVE },
	{ NULL, C_NONE }
};

static enum cli_cmd
cli_toxic_find_cmd(const struct cmd_name *t, const char *w)
{
	for (; t->word != NULL; t++)
		if (strcmp(t->word, w) == 0)
			return t->cmd;
	return C_NONE;
}

static const char *
cli_toxic_cmd_label(enum cli_cmd c)
{
	static const char *const names[] = { "", "list", "inspect", "create", "toggle", "delete",
	                                     "toxic", "toxic add", "toxic update", "toxic remove" };

	return names[c];
}

/* Takes the value of an option that needs one; *i moves past it. Returns NULL when missing. */
static const char *
cli_toxic_opt_value(int argc, char **argv, int *i, const char *inl, FILE *err)
{
	if (inl != NULL)
		return inl;
	if (*i + 1 >= argc) {
		fprintf(err, "sim toxic: %s needs a value\n", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static bool
cli_toxic_is_opt(const char *a, const char *s1, const char *s2)
{
	return strcmp(a, s1) == 0 || (s2 != NULL && strcmp(a, s2) == 0);
}

/* Options may come before or after the command and the proxy (toxiproxy-cli takes them after
 * the command, before the proxy: a superset). -u is --upstream ADDR for create and the upstream
 * stream for toxic add; -h is --host, as in toxiproxy-cli (help is --help). `--opt=value` is
 * taken too. */
static int
cli_toxic_parse_args(int argc, char **argv, struct cli_opts *o, FILE *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *inl = NULL;
		const char **dst = NULL;
		char opt[64];
		const char *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;

		if (eq != NULL && (size_t)(eq - a) < sizeof(opt)) {
			memcpy(opt, a, (size_t)(eq - a));
			opt[eq - a] = '\0';
			a = opt;
			inl = eq + 1;
		}
		if (cli_toxic_is_opt(a, "--help", NULL)) {
			o->help = true;
		} else if (cli_toxic_is_opt(a, "-h", "--host")) {
			dst = &o->host;
		} else if (cli_toxic_is_opt(a, "-t", "--type")) {
			dst = &o->type;
		} else if (cli_toxic_is_opt(a, "-n", "--toxicName") || cli_toxic_is_opt(a, "--name", NULL)) {
			dst = &o->name;
		} else if (cli_toxic_is_opt(a, "--tox", "-tox") || cli_toxic_is_opt(a, "--toxicity", NULL)) {
			dst = &o->toxicity;
		} else if (cli_toxic_is_opt(a, "-l", "--listen")) {
			dst = &o->listen;
		} else if (o->cmd == C_CREATE && cli_toxic_is_opt(a, "-u", "--upstream")) {
			dst = &o->upstream;
		} else if (cli_toxic_is_opt(a, "-u", "--upstream")) {
			o->up = true;
		} else if (cli_toxic_is_opt(a, "-d", "--downstream")) {
			o->down = true;
		} else if (cli_toxic_is_opt(a, "-a", "--attribute")) {
			const char *v = cli_toxic_opt_value(argc, argv, &i, inl, err);

			if (v == NULL)
				return -1;
			if (o->nattrs == CLI_MAX_ATTRS) {
				fprintf(err, "sim toxic: at most %d attributes\n", CLI_MAX_ATTRS);
				return -1;
			}
			o->attrs[o->nattrs++] = v;
			continue;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(err, "sim toxic: unknown option '%s' (sim toxic --help)\n", argv[i]);
			return -1;
		} else if (o->cmd == C_NONE) {
			o->cmd_word = a;
			if ((o->cmd = cli_toxic_find_cmd(cli_toxic_top_cmds, a)) == C_NONE) {
				fprintf(err, "sim toxic: unknown command '%s' (list, inspect, create, toggle, "
				        "delete, toxic add|update|remove)\n", a);
				return -1;
			}
		} else if (o->cmd == C_TOXIC) {
			if ((o->cmd = cli_toxic_find_cmd(cli_toxic_toxic_cmds, a)) == C_NONE) {
				fprintf(err, "sim toxic: unknown toxic command '%s' (add, update, remove)\n", a);
				return -1;
			}
		} else if (o->proxy == NULL) {
			o->proxy = a;
		} else {
			fprintf(err, "sim toxic: unexpected argument '%s'\n", a);
			return -1;
		}
		if (dst != NULL && (*dst = cli_toxic_opt_value(argc, argv, &i, inl, err)) == NULL)
			return -1;
		if (dst == NULL && inl != NULL) {
			fprintf(err, "sim toxic: %s takes no value\n", a);
			return -1;
		}
	}
	return 0;
}

/* Adds KEY=VALUE attributes to obj: a value that is a whole integer goes as a number, any other
 * as a string (fcgi_abort's code and message). Returns 0, or -1 with a message. */
static int
cli_toxic_put_attrs(json_object *obj, const struct cli_opts *o, FILE *err)
{
	for (size_t i = 0; i < o->nattrs; i++) {
		const char *kv = o->attrs[i], *eq = strchr(kv, '=');
		char key[128], *end;
		long long n;
		json_object *v;

		if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
			fprintf(err, "sim toxic: attribute '%s' is not KEY=VALUE\n", kv);
			return -1;
		}
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = '\0';
		errno = 0;
		n = strtoll(eq + 1, &end, 10);
		if (eq[1] != '\0' && *end == '\0' && errno == 0)
			v = json_object_new_int64(n);
		else
			v = json_object_new_string(eq + 1);
		if (v == NULL || json_object_object_add(obj, key, v) != 0) {
			json_object_put(v);
			fprintf(err, "sim toxic: out of memory\n");
			return -1;
		}
	}
	return 0;
}

static int
cli_toxic_put_toxicity(json_object *obj, const char *s, FILE *err)
{
	char *end;
	double d;
	json_object *v;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || d < 0 || d > 1) {
		fprintf(err, "sim toxic: --toxicity '%s': toxicity should be a float between 0 and 1.\n", s);
		return -1;
	}
	v = json_object_new_double(d);
	if (v == NULL || json_object_object_add(obj, "toxicity", v) != 0) {
		json_object_put(v);
		fprintf(err, "sim toxic: out of memory\n");
		return -1;
	}
	return 0;
}

/* Adds key: "value" to obj. Returns 0, or -1 out of memory. */
static int
cli_toxic_put_str(json_object *obj, const char *key, const char *value)
{
	json_object *v = json_object_new_string(value);

	if (v == NULL || json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static const char *
cli_toxic_jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return "";
	return json_object_get_string(v);
}

static bool
cli_toxic_jbool(json_object *o, const char *key)
{
	json_object *v;

	return o != NULL && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static json_object *
cli_toxic_jarr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* Calls the API; on failure prints why and returns the exit status (CLI_OK when it answered
 * with want). what names the action for messages. */
static int
cli_toxic_call(const struct cli_api *api, const char *method, const char *path, json_object *body,
    long want, const char *what, struct cli_reply *rep, FILE *err)
{
	if (cli_api_call(api, method, path, body, rep) != 0) {
		fprintf(err, "sim toxic: no proxy API at %s (%s; address from %s): is the stack up with "
		        "SHOPLAB_PROXY=1?\n", api->base, rep->error, api->from);
		return CLI_UNREACHABLE;
	}
	if (rep->status != want) {
		fprintf(err, "sim toxic: %s: %s\n", what, rep->error[0] != '\0' ? rep->error :
		        "unexpected answer");
		cli_reply_free(rep);
		return CLI_REFUSED;
	}
	return CLI_OK;
}

static int
cli_toxic_cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* "attributes=[\tk=v\tk2=v2\t]", keys sorted, as toxiproxy-cli prints them */
static void
cli_toxic_print_attrs(json_object *toxic, FILE *out)
{
	json_object *attrs, *v;
	const char *keys[64];
	size_t n = 0;

	fputs("attributes=[", out);
	if (json_object_object_get_ex(toxic, "attributes", &attrs) &&
	    json_object_is_type(attrs, json_type_object)) {
		json_object_object_foreach(attrs, k, val) {
			(void)val;
			if (n < sizeof(keys) / sizeof(keys[0]))
				keys[n++] = k;
		}
		qsort(keys, n, sizeof(keys[0]), cli_toxic_cmp_str);
		for (size_t i = 0; i < n; i++)
			if (json_object_object_get_ex(attrs, keys[i], &v))
				fprintf(out, "\t%s=%s", keys[i], json_object_get_string(v));
	}
	fputs("\t]\n", out);
}

static void
cli_toxic_print_toxic_line(json_object *t, bool tty, FILE *out)
{
	json_object *v;
	double tox = json_object_object_get_ex(t, "toxicity", &v) ? json_object_get_double(v) : 1.0;

	fprintf(out, tty ? "%s:\t" : "%s\t", cli_toxic_jstr(t, "name"));
	fprintf(out, "type=%s\tstream=%s\ttoxicity=%.2f\t", cli_toxic_jstr(t, "type"), cli_toxic_jstr(t, "stream"), tox);
	cli_toxic_print_attrs(t, out);
}

/* toxiproxy-cli's printWidth: the field, a tab, and on a terminal more tabs to line it up */
static void
cli_toxic_print_width(const char *m, int tabs, bool tty, FILE *out)
{
	int n = tty ? tabs - (int)(strlen(m) / 8 + 1) : 0;

	fprintf(out, "%s\t", m);
	for (; n > 0; n--)
		fputc('\t', out);
}

static int
cli_toxic_cmd_list(const struct cli_api *api, bool tty, FILE *out, FILE *err)
{
	struct cli_reply rep;
	int rc = cli_toxic_call(api, "GET", "/proxies", NULL, 200, "list", &rep, err);

	if (rc != CLI_OK)
		return rc;
	if (rep.json == NULL || !json_object_is_type(rep.json, json_type_object)) {
		fprintf(err, "sim toxic: list: the API's answer is not a JSON object\n");
		rc = CLI_REFUSED;
		goto out;
	}
	if (tty) {
		fputs("Name\t\t\tListen\t\tUpstream\t\tEnabled\t\tToxics\n"
		      "======================================================================================\n", out);
		if (json_object_object_length(rep.json) == 0) {
			fputs("no proxies\n\nHint: create a proxy with `sim toxic create`\n", out);
			goto out;
		}
	}
	json_object_object_foreach(rep.json, name, p) {
		json_object *tx = cli_toxic_jarr(p, "toxics");
		size_t n = tx != NULL ? json_object_array_length(tx) : 0;

		cli_toxic_print_width(name, 3, tty, out);
		cli_toxic_print_width(cli_toxic_jstr(p, "listen"), 2, tty, out);
		cli_toxic_print_width(cli_toxic_jstr(p, "upstream"), 3, tty, out);
		cli_toxic_print_width(cli_toxic_jbool(p, "enabled") ? "enabled" : "disabled", 2, tty, out);
		if (n == 0 && tty)
			fputs("None\n", out);
		else
			fprintf(out, "%zu\n", n);
	}
	if (tty)
		fputs("\nHint: inspect toxics with `sim toxic inspect <proxyName>`\n", out);
out:
	cli_reply_free(&rep);
	return rc;
}

static void
cli_toxic_list_toxics(json_object *tx, const char *stream, const char *title, bool tty, FILE *out)
{
	size_t shown = 0;

	if (tty)
		fprintf(out, "%s toxics:\n", title);
	for (size_t i = 0; tx != NULL && i < json_object_array_length(tx); i++) {
		json_object *t = json_object_array_get_idx(tx, i);
		bool up = strcmp(cli_toxic_jstr(t, "stream"), "upstream") == 0;

		if (stream != NULL && up != (strcmp(stream, "upstream") == 0))
			continue;
		cli_toxic_print_toxic_line(t, tty, out);
		shown++;
	}
	if (tty && shown == 0)
		fprintf(out, "Proxy has no %s toxics enabled.\n", title);
}

static int
cli_toxic_cmd_inspect(const struct cli_api *api, const char *proxy, const char *eproxy, bool tty,
    FILE *out, FILE *err)
{
	char path[CLI_SEG_MAX + 32];
	struct cli_reply rep;
	json_object *tx;
	int rc;

	snprintf(path, sizeof(path), "/proxies/%s", eproxy);
	rc = cli_toxic_call(api, "GET", path, NULL, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		return rc;
	tx = cli_toxic_jarr(rep.json, "toxics");
	if (!tty) {
		cli_toxic_list_toxics(tx, NULL, "", false, out);
		goto out;
	}
	fprintf(out, "Name: %s\tListen: %s\tUpstream: %s\n", cli_toxic_jstr(rep.json, "name"),
	        cli_toxic_jstr(rep.json, "listen"), cli_toxic_jstr(rep.json, "upstream"));
	fputs("======================================================================\n", out);
	if (tx == NULL || json_object_array_length(tx) == 0) {
		fputs("Proxy has no toxics enabled.\n", out);
	} else {
		cli_toxic_list_toxics(tx, "upstream", "Upstream", true, out);
		fputc('\n', out);
		cli_toxic_list_toxics(tx, "downstream", "Downstream", true, out);
	}
	fputs("\nHint: add a toxic with `sim toxic toxic add`\n", out);
out:
	cli_reply_free(&rep);
	return CLI_OK;
}

/* path: /proxies/EPROXY/toxics/NAME, NAME escaped; -1 with a message on err when it is too long. */
static int
cli_toxic_path(char *path, size_t pathsz, const char *eproxy, const char *name, FILE *err)
{
	char ename[CLI_SEG_MAX];

	if (cli_path_escape(name, ename, sizeof(ename)) != 0) {
		fprintf(err, "sim toxic: toxic name too long\n");
		return -1;
	}
	snprintf(path, pathsz, "/proxies/%s/toxics/%s", eproxy, ename);
	return 0;
}

/* add and update share the body: name, type, stream, toxicity, attributes */
static int
cli_toxic_cmd_add_update(const struct cli_api *api, const struct cli_opts *o, const char *eproxy,
    bool add, FILE *out, FILE *err)
{
	char path[2 * CLI_SEG_MAX + 48], what[600];
	json_object *body = json_object_new_object(), *attrs = json_object_new_object();
	struct cli_reply rep;
	int rc = CLI_USAGE;     /* until the call: every failure before it is the command line's */

	if (body == NULL || attrs == NULL) {
		fprintf(err, "sim toxic: out of memory\n");
		json_object_put(attrs);
		goto out;
	}
	if (cli_toxic_put_attrs(attrs, o, err) != 0)
		goto out_attrs;
	if (json_object_object_add(body, "attributes", attrs) != 0)
		goto out_attrs;
	attrs = NULL;
	if (o->toxicity != NULL && cli_toxic_put_toxicity(body, o->toxicity, err) != 0)
		goto out;
	if ((add && o->name != NULL && cli_toxic_put_str(body, "name", o->name) != 0) ||
	    (add && cli_toxic_put_str(body, "type", o->type) != 0) ||
	    (add && (o->up || o->down) && cli_toxic_put_str(body, "stream", o->up ? "upstream" : "downstream") != 0)) {
		fprintf(err, "sim toxic: out of memory\n");
		goto out;
	}
	if (add) {
		snprintf(path, sizeof(path), "/proxies/%s/toxics", eproxy);
		snprintf(what, sizeof(what), "add %s to %s", o->type, o->proxy);
	} else {
		if (cli_toxic_path(path, sizeof(path), eproxy, o->name, err) != 0)
			goto out;
		snprintf(what, sizeof(what), "update %s on %s", o->name, o->proxy);
	}
	rc = cli_toxic_call(api, "POST", path, body, 200, what, &rep, err);
	if (rc != CLI_OK)
		goto out;
	if (add)
		fprintf(out, "Added %s %s toxic '%s' on proxy '%s'\n", cli_toxic_jstr(rep.json, "stream"),
		        cli_toxic_jstr(rep.json, "type"), cli_toxic_jstr(rep.json, "name"), o->proxy);
	else
		fprintf(out, "Updated toxic '%s' on proxy '%s'\n", cli_toxic_jstr(rep.json, "name"), o->proxy);
	cli_reply_free(&rep);
	goto out;
out_attrs:
	json_object_put(attrs);
out:
	json_object_put(body);
	return rc;
}

static int
cli_toxic_cmd_remove(const struct cli_api *api, const struct cli_opts *o, const char *eproxy,
    FILE *out, FILE *err)
{
	char path[2 * CLI_SEG_MAX + 48], what[600];
	struct cli_reply rep;
	int rc;

	if (cli_toxic_path(path, sizeof(path), eproxy, o->name, err) != 0)
		return CLI_USAGE;
	snprintf(what, sizeof(what), "remove %s from %s", o->name, o->proxy);
	rc = cli_toxic_call(api, "DELETE", path, NULL, 204, what, &rep, err);
	if (rc != CLI_OK)
		return rc;
	fprintf(out, "Removed toxic '%s' on proxy '%s'\n", o->name, o->proxy);
	cli_reply_free(&rep);
	return CLI_OK;
}

static int
cli_toxic_cmd_toggle(const struct cli_api *api, const char *proxy, const char *eproxy, FILE *out,
    FILE *err)
{
	char path[CLI_SEG_MAX + 32];
	struct cli_reply rep;
	json_object *body = NULL;
	bool enable;
	int rc;

	snprintf(path, sizeof(path), "/proxies/%s", eproxy);
	rc = cli_toxic_call(api, "GET", path, NULL, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		return rc;
	enable = !cli_toxic_jbool(rep.json, "enabled");
	cli_reply_free(&rep);
	body = json_object_new_object();
	if (body == NULL || json_object_object_add(body, "enabled", json_object_new_boolean(enable)) != 0) {
		fprintf(err, "sim toxic: out of memory\n");
		rc = CLI_REFUSED;
		goto out;
	}
	rc = cli_toxic_call(api, "POST", path, body, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		goto out;
	fprintf(out, "Proxy %s is now %s\n", proxy, cli_toxic_jbool(rep.json, "enabled") ? "enabled" : "disabled");
	cli_reply_free(&rep);
out:
	json_object_put(body);
	return rc;
}

static int
cli_toxic_cmd_create(const struct cli_api *api, const struct cli_opts *o, FILE *out, FILE *err)
{
	json_object *body = json_object_new_object();
	struct cli_reply rep;
	char what[600];
	int rc = CLI_REFUSED;

	if (body == NULL || cli_toxic_put_str(body, "name", o->proxy) != 0 ||
	    cli_toxic_put_str(body, "listen", o->listen) != 0 || cli_toxic_put_str(body, "upstream", o->upstream) != 0 ||
	    json_object_object_add(body, "enabled", json_object_new_boolean(1)) != 0) {
		fprintf(err, "sim toxic: out of memory\n");
		goto out;
	}
	snprintf(what, sizeof(what), "create %s", o->proxy);
	rc = cli_toxic_call(api, "POST", "/proxies", body, 201, what, &rep, err);
	if (rc != CLI_OK)
		goto out;
	fprintf(out, "Created new proxy %s\n", o->proxy);
	cli_reply_free(&rep);
out:
	json_object_put(body);
	return rc;
}

static int
cli_toxic_cmd_delete(const struct cli_api *api, const char *proxy, const char *eproxy, FILE *out,
    FILE *err)
{
	char path[CLI_SEG_MAX + 32], what[600];
	struct cli_reply rep;
	int rc;

	snprintf(path, sizeof(path), "/proxies/%s", eproxy);
	snprintf(what, sizeof(what), "delete %s", proxy);
	rc = cli_toxic_call(api, "DELETE", path, NULL, 204, what, &rep, err);
	if (rc != CLI_OK)
		return rc;
	fprintf(out, "Deleted proxy %s\n", proxy);
	cli_reply_free(&rep);
	return CLI_OK;
}

/* Checks what each command needs; prints what is missing. */
static int
cli_toxic_check_args(const struct cli_opts *o, FILE *err)
{
	enum cli_cmd c = o->cmd;
	bool toxic_flags = o->type != NULL || o->nattrs > 0 || o->toxicity != NULL || o->up || o->down;
	/* the older layout's words (add, remove) as typed, else toxiproxy-cli's (toxic add) */
	const char *label = c >= C_ADD && cli_toxic_find_cmd(cli_toxic_top_cmds, o->cmd_word) == c ? o->cmd_word : cli_toxic_cmd_label(c);

	if (c == C_TOXIC) {
		fprintf(err, "sim toxic: %s needs a subcommand: add, update or remove\n", o->cmd_word);
		return -1;
	}
	if (c == C_LIST && o->proxy != NULL) {
		fprintf(err, "sim toxic: list takes no proxy\n");
		return -1;
	}
	if (c != C_LIST && o->proxy == NULL) {
		fprintf(err, "sim toxic: %s needs a proxy name\n", label);
		return -1;
	}
	if (c == C_ADD && o->type == NULL) {
		fprintf(err, "sim toxic: %s needs -t TYPE\n", label);
		return -1;
	}
	if (c == C_ADD && o->up && o->down) {
		fprintf(err, "sim toxic: Only one should be specified: upstream or downstream.\n");
		return -1;
	}
	if ((c == C_UPDATE || c == C_REMOVE) && o->name == NULL) {
		fprintf(err, "sim toxic: %s needs -n NAME\n", label);
		return -1;
	}
	if (c == C_CREATE && (o->listen == NULL || o->upstream == NULL)) {
		fprintf(err, "sim toxic: create needs -l/--listen ADDR and -u/--upstream ADDR\n");
		return -1;
	}
	if (c != C_CREATE && o->listen != NULL) {
		fprintf(err, "sim toxic: %s takes no -l/--listen\n", label);
		return -1;
	}
	if (c != C_ADD && c != C_UPDATE && (toxic_flags || (c != C_REMOVE && o->name != NULL))) {
		fprintf(err, "sim toxic: %s takes no -t, -n, -a, --tox, -u or -d\n", label);
		return -1;
	}
	if (c == C_UPDATE && (o->type != NULL || o->up || o->down)) {
		fprintf(err, "sim toxic: update cannot change a toxic's type or stream (remove it and "
		        "add it again)\n");
		return -1;
	}
	return 0;
}

/* `sim toxic` with its output streams given (tests pass memory streams). Returns the exit
 * status (enum cli_exit). */
int
sim_toxic_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_opts o;
	struct cli_api api;
	char msg[600], eproxy[CLI_SEG_MAX] = "";
	int fd = fileno(out);
	bool tty = fd >= 0 && isatty(fd);

	memset(&o, 0, sizeof(o));
	if (cli_toxic_parse_args(argc, argv, &o, err) != 0)
		return CLI_USAGE;
	if (o.help) {
		fputs(cli_toxic_usage_text, out);
		return CLI_OK;
	}
	if (o.cmd == C_NONE) {
		fputs(cli_toxic_usage_text, err);
		return CLI_USAGE;
	}
	if (cli_toxic_check_args(&o, err) != 0)
		return CLI_USAGE;
	if (cli_api_resolve(&api, o.host, msg, sizeof(msg)) != 0) {
		fprintf(err, "sim toxic: %s\n", msg);
		return CLI_USAGE;
	}
	if (o.proxy != NULL && cli_path_escape(o.proxy, eproxy, sizeof(eproxy)) != 0) {
		fprintf(err, "sim toxic: proxy name too long\n");
		return CLI_USAGE;
	}
	switch (o.cmd) {
	case C_LIST:
		return cli_toxic_cmd_list(&api, tty, out, err);
	case C_INSPECT:
		return cli_toxic_cmd_inspect(&api, o.proxy, eproxy, tty, out, err);
	case C_CREATE:
		return cli_toxic_cmd_create(&api, &o, out, err);
	case C_TOGGLE:
		return cli_toxic_cmd_toggle(&api, o.proxy, eproxy, out, err);
	case C_DELETE:
		return cli_toxic_cmd_delete(&api, o.proxy, eproxy, out, err);
	case C_ADD:
	case C_UPDATE:
		return cli_toxic_cmd_add_update(&api, &o, eproxy, o.cmd == C_ADD, out, err);
	case C_REMOVE:
		return cli_toxic_cmd_remove(&api, &o, eproxy, out, err);
	case C_NONE:
	case C_TOXIC:
		break;
	}
	return CLI_USAGE;
}

int
sim_toxic_main(int argc, char **argv)
{
	int rc = sim_toxic_run(argc, argv, stdout, stderr);

	if (fflush(stdout) != 0 && rc == CLI_OK)
		rc = CLI_REFUSED;
	return rc;
}
