/* cli_toxic.c - `sim toxic list|add|remove|update|toggle|inspect`: the fault CLI, with toxiproxy-cli's ergonomics */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "sim.h"

#define CLI_MAX_ATTRS 16
#define CLI_SEG_MAX 800         /* an escaped name */

struct cli_opts {
	const char *host;
	const char *cmd;
	const char *proxy;
	const char *name;               /* -n */
	const char *type;               /* -t */
	const char *toxicity;           /* --tox */
	const char *stream;             /* "upstream", "downstream" or NULL */
	const char *attrs[CLI_MAX_ATTRS];
	size_t nattrs;
	bool help;
};

static const char usage_text[] =
	"usage: sim toxic [--host H] <command> [options] [PROXY]\n"
	"\n"
	"Drives `sim proxy` (or any Toxiproxy) through its API, like toxiproxy-cli.\n"
	"\n"
	"commands:\n"
	"  list                          every proxy: listen, upstream, enabled, toxics\n"
	"  inspect PROXY                 one proxy and its toxics with their attributes\n"
	"  add -t TYPE [-n NAME] [--tox P] [-u|-d] [-a KEY=VALUE]... PROXY\n"
	"                                adds a toxic (stream: downstream, upstream for fcgi_*\n"
	"                                and mysql_*; name: TYPE_STREAM; toxicity 1.0)\n"
	"  update -n NAME [--tox P] [-a KEY=VALUE]... PROXY\n"
	"                                changes a toxic's attributes or toxicity\n"
	"  remove -n NAME PROXY          removes a toxic\n"
	"  toggle PROXY                  disables an enabled proxy (cutting its connections), or\n"
	"                                enables a disabled one\n"
	"\n"
	"options:\n"
	"  --host H             the API, host:port or http://host:port. Default: $SHOPLAB_PROXY_API,\n"
	"                       else SHOPLAB_PROXY_API in $SHOPLAB_RUN/shoplab.env (./run), else\n"
	"                       127.0.0.1:8474\n"
	"  -t, --type TYPE      latency bandwidth slow_close timeout reset_peer slicer limit_data\n"
	"                       fcgi_latency fcgi_abort fcgi_reset mysql_commit_lost\n"
	"  -n, --toxicName NAME the toxic's name\n"
	"  --tox, --toxicity P  the chance (0..1) that the toxic applies\n"
	"  -a, --attribute K=V  an attribute (repeatable); integers are sent as numbers\n"
	"  -u, --upstream       client -> upstream\n"
	"  -d, --downstream     upstream -> client\n"
	"  -h, --help           this text\n"
	"\n"
	"examples:\n"
	"  sim toxic add -t latency -a latency=300 -a jitter=50 --downstream gateway-payments\n"
	"  sim toxic add -t fcgi_abort -a first=3 -a code=payments_down gateway-payments\n"
	"  sim toxic remove -n latency_downstream gateway-payments\n"
	"\n"
	"exit status: 0 done, 1 the API refused (its message is printed), 2 bad command line,\n"
	"3 no proxy API reachable.\n";

/* Takes the value of an option that needs one; *i moves past it. Returns NULL when missing. */
static const char *opt_value(int argc, char **argv, int *i, FILE *err)
{
	if (*i + 1 >= argc) {
		fprintf(err, "sim toxic: %s needs a value\n", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static bool is_opt(const char *a, const char *s1, const char *s2)
{
	return strcmp(a, s1) == 0 || (s2 != NULL && strcmp(a, s2) == 0);
}

/* Options may come before or after the command and the proxy, as with toxiproxy-cli. */
static int parse_args(int argc, char **argv, struct cli_opts *o, FILE *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;

		if (is_opt(a, "-h", "--help")) {
			o->help = true;
		} else if (is_opt(a, "--host", NULL)) {
			dst = &o->host;
		} else if (is_opt(a, "-t", "--type")) {
			dst = &o->type;
		} else if (is_opt(a, "-n", "--toxicName") || is_opt(a, "--name", NULL)) {
			dst = &o->name;
		} else if (is_opt(a, "--tox", "--toxicity")) {
			dst = &o->toxicity;
		} else if (is_opt(a, "-u", "--upstream")) {
			o->stream = "upstream";
		} else if (is_opt(a, "-d", "--downstream")) {
			o->stream = "downstream";
		} else if (is_opt(a, "-a", "--attribute")) {
			const char *v = opt_value(argc, argv, &i, err);

			if (v == NULL)
				return -1;
			if (o->nattrs == CLI_MAX_ATTRS) {
				fprintf(err, "sim toxic: at most %d attributes\n", CLI_MAX_ATTRS);
				return -1;
			}
			o->attrs[o->nattrs++] = v;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(err, "sim toxic: unknown option '%s' (sim toxic --help)\n", a);
			return -1;
		} else if (o->cmd == NULL) {
			o->cmd = a;
		} else if (o->proxy == NULL) {
			o->proxy = a;
		} else {
			fprintf(err, "sim toxic: unexpected argument '%s'\n", a);
			return -1;
		}
		if (dst != NULL && (*dst = opt_value(argc, argv, &i, err)) == NULL)
			return -1;
	}
	return 0;
}

/* Adds KEY=VALUE attributes to obj: a value that is a whole integer goes as a number, any other
 * as a string (fcgi_abort's code and message). Returns 0, or -1 with a message. */
static int put_attrs(json_object *obj, const struct cli_opts *o, FILE *err)
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

static int put_toxicity(json_object *obj, const char *s, FILE *err)
{
	char *end;
	double d;
	json_object *v;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || d < 0 || d > 1) {
		fprintf(err, "sim toxic: --toxicity '%s': a number from 0 to 1\n", s);
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
static int put_str(json_object *obj, const char *key, const char *value)
{
	json_object *v = json_object_new_string(value);

	if (v == NULL || json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return "";
	return json_object_get_string(v);
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;

	return o != NULL && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static json_object *jarr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* Calls the API; on failure prints why and returns the exit status (CLI_OK when it answered
 * with want). what names the action for messages. */
static int call(const struct cli_api *api, const char *method, const char *path, json_object *body,
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

static void print_attrs(json_object *toxic, FILE *out)
{
	json_object *attrs;
	const char *sep = "";

	if (!json_object_object_get_ex(toxic, "attributes", &attrs) ||
	    !json_object_is_type(attrs, json_type_object))
		return;
	json_object_object_foreach(attrs, k, v) {
		fprintf(out, "%s%s=%s", sep, k, json_object_get_string(v));
		sep = " ";
	}
}

static void print_toxic_line(json_object *t, FILE *out)
{
	fprintf(out, "  %-28s %-18s toxicity=%-5s ", jstr(t, "name"), jstr(t, "type"),
	        jstr(t, "toxicity"));
	print_attrs(t, out);
	fputc('\n', out);
}

static int cmd_list(const struct cli_api *api, FILE *out, FILE *err)
{
	struct cli_reply rep;
	int rc = call(api, "GET", "/proxies", NULL, 200, "list", &rep, err);

	if (rc != CLI_OK)
		return rc;
	if (rep.json == NULL || !json_object_is_type(rep.json, json_type_object)) {
		fprintf(err, "sim toxic: list: the API's answer is not a JSON object\n");
		rc = CLI_REFUSED;
		goto out;
	}
	fprintf(out, "%-24s %-22s %-22s %-8s %s\n", "NAME", "LISTEN", "UPSTREAM", "ENABLED", "TOXICS");
	json_object_object_foreach(rep.json, name, p) {
		json_object *tx = jarr(p, "toxics");
		size_t n = tx != NULL ? json_object_array_length(tx) : 0;

		fprintf(out, "%-24s %-22s %-22s %-8s ", name, jstr(p, "listen"), jstr(p, "upstream"),
		        jbool(p, "enabled") ? "yes" : "no");
		if (n == 0)
			fprintf(out, "none\n");
		else
			fprintf(out, "%zu\n", n);
	}
out:
	cli_reply_free(&rep);
	return rc;
}

static int cmd_inspect(const struct cli_api *api, const char *proxy, const char *eproxy, FILE *out,
                       FILE *err)
{
	char path[CLI_SEG_MAX + 32];
	struct cli_reply rep;
	json_object *tx;
	int rc;

	snprintf(path, sizeof(path), "/proxies/%s", eproxy);
	rc = call(api, "GET", path, NULL, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		return rc;
	tx = jarr(rep.json, "toxics");
	fprintf(out, "%s  listen %s  upstream %s  %s\n", jstr(rep.json, "name"),
	        jstr(rep.json, "listen"), jstr(rep.json, "upstream"),
	        jbool(rep.json, "enabled") ? "enabled" : "DISABLED");
	for (int s = 0; s < 2; s++) {
		const char *stream = s == 0 ? "upstream" : "downstream";
		size_t shown = 0;

		fprintf(out, "%s toxics:\n", s == 0 ? "upstream (client -> upstream)" :
		        "downstream (upstream -> client)");
		for (size_t i = 0; tx != NULL && i < json_object_array_length(tx); i++) {
			json_object *t = json_object_array_get_idx(tx, i);

			if (strcmp(jstr(t, "stream"), stream) != 0)
				continue;
			print_toxic_line(t, out);
			shown++;
		}
		if (shown == 0)
			fprintf(out, "  none\n");
	}
	cli_reply_free(&rep);
	return CLI_OK;
}

/* add and update share the body: name, type, stream, toxicity, attributes */
static int cmd_add_update(const struct cli_api *api, const struct cli_opts *o, const char *eproxy,
                          bool add, FILE *out, FILE *err)
{
	char path[2 * CLI_SEG_MAX + 48], ename[CLI_SEG_MAX], what[600];
	json_object *body = json_object_new_object(), *attrs = json_object_new_object();
	struct cli_reply rep;
	int rc = CLI_USAGE;     /* until the call: every failure before it is the command line's */

	if (body == NULL || attrs == NULL) {
		fprintf(err, "sim toxic: out of memory\n");
		json_object_put(attrs);
		goto out;
	}
	if (put_attrs(attrs, o, err) != 0)
		goto out_attrs;
	if (json_object_object_add(body, "attributes", attrs) != 0)
		goto out_attrs;
	attrs = NULL;
	if (o->toxicity != NULL && put_toxicity(body, o->toxicity, err) != 0)
		goto out;
	if ((add && o->name != NULL && put_str(body, "name", o->name) != 0) ||
	    (add && put_str(body, "type", o->type) != 0) ||
	    (add && o->stream != NULL && put_str(body, "stream", o->stream) != 0)) {
		fprintf(err, "sim toxic: out of memory\n");
		goto out;
	}
	if (add) {
		snprintf(path, sizeof(path), "/proxies/%s/toxics", eproxy);
		snprintf(what, sizeof(what), "add %s to %s", o->type, o->proxy);
	} else {
		if (cli_path_escape(o->name, ename, sizeof(ename)) != 0) {
			fprintf(err, "sim toxic: toxic name too long\n");
			goto out;
		}
		snprintf(path, sizeof(path), "/proxies/%s/toxics/%s", eproxy, ename);
		snprintf(what, sizeof(what), "update %s on %s", o->name, o->proxy);
	}
	rc = call(api, "POST", path, body, 200, what, &rep, err);
	if (rc != CLI_OK)
		goto out;
	fprintf(out, "%s %s %s toxic '%s' on proxy '%s': toxicity=%s ", add ? "Added" : "Updated",
	        jstr(rep.json, "stream"), jstr(rep.json, "type"), jstr(rep.json, "name"), o->proxy,
	        jstr(rep.json, "toxicity"));
	print_attrs(rep.json, out);
	fputc('\n', out);
	cli_reply_free(&rep);
	goto out;
out_attrs:
	json_object_put(attrs);
out:
	json_object_put(body);
	return rc;
}

static int cmd_remove(const struct cli_api *api, const struct cli_opts *o, const char *eproxy,
                      FILE *out, FILE *err)
{
	char path[2 * CLI_SEG_MAX + 48], ename[CLI_SEG_MAX], what[600];
	struct cli_reply rep;
	int rc;

	if (cli_path_escape(o->name, ename, sizeof(ename)) != 0) {
		fprintf(err, "sim toxic: toxic name too long\n");
		return CLI_USAGE;
	}
	snprintf(path, sizeof(path), "/proxies/%s/toxics/%s", eproxy, ename);
	snprintf(what, sizeof(what), "remove %s from %s", o->name, o->proxy);
	rc = call(api, "DELETE", path, NULL, 204, what, &rep, err);
	if (rc != CLI_OK)
		return rc;
	fprintf(out, "Removed toxic '%s' on proxy '%s'\n", o->name, o->proxy);
	cli_reply_free(&rep);
	return CLI_OK;
}

static int cmd_toggle(const struct cli_api *api, const char *proxy, const char *eproxy, FILE *out,
                      FILE *err)
{
	char path[CLI_SEG_MAX + 32];
	struct cli_reply rep;
	json_object *body = NULL;
	bool enable;
	int rc;

	snprintf(path, sizeof(path), "/proxies/%s", eproxy);
	rc = call(api, "GET", path, NULL, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		return rc;
	enable = !jbool(rep.json, "enabled");
	cli_reply_free(&rep);
	body = json_object_new_object();
	if (body == NULL || json_object_object_add(body, "enabled", json_object_new_boolean(enable)) != 0) {
		fprintf(err, "sim toxic: out of memory\n");
		rc = CLI_REFUSED;
		goto out;
	}
	rc = call(api, "POST", path, body, 200, proxy, &rep, err);
	if (rc != CLI_OK)
		goto out;
	fprintf(out, "Proxy '%s' is now %s\n", proxy, jbool(rep.json, "enabled") ? "enabled" :
	        "disabled");
	cli_reply_free(&rep);
out:
	json_object_put(body);
	return rc;
}

/* Checks what each command needs; prints what is missing. */
static int check_args(const struct cli_opts *o, FILE *err)
{
	bool add = strcmp(o->cmd, "add") == 0, upd = strcmp(o->cmd, "update") == 0,
	     rem = strcmp(o->cmd, "remove") == 0, list = strcmp(o->cmd, "list") == 0;

	if (!add && !upd && !rem && !list && strcmp(o->cmd, "toggle") != 0 &&
	    strcmp(o->cmd, "inspect") != 0) {
		fprintf(err, "sim toxic: unknown command '%s' (list, inspect, add, update, remove, "
		        "toggle)\n", o->cmd);
		return -1;
	}
	if (list && o->proxy != NULL) {
		fprintf(err, "sim toxic: list takes no proxy\n");
		return -1;
	}
	if (!list && o->proxy == NULL) {
		fprintf(err, "sim toxic: %s needs a proxy name\n", o->cmd);
		return -1;
	}
	if (add && o->type == NULL) {
		fprintf(err, "sim toxic: add needs -t TYPE\n");
		return -1;
	}
	if ((upd || rem) && o->name == NULL) {
		fprintf(err, "sim toxic: %s needs -n NAME\n", o->cmd);
		return -1;
	}
	if (!add && !upd && (o->type != NULL || o->nattrs > 0 || o->toxicity != NULL ||
	                     o->stream != NULL)) {
		fprintf(err, "sim toxic: %s takes no -t, -a, --tox, -u or -d\n", o->cmd);
		return -1;
	}
	if (upd && (o->type != NULL || o->stream != NULL)) {
		fprintf(err, "sim toxic: update cannot change a toxic's type or stream (remove it and "
		        "add it again)\n");
		return -1;
	}
	return 0;
}

/* `sim toxic` with its output streams given (tests pass memory streams). Returns the exit
 * status (enum cli_exit). */
int sim_toxic_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_opts o;
	struct cli_api api;
	char msg[600], eproxy[CLI_SEG_MAX] = "";

	memset(&o, 0, sizeof(o));
	if (parse_args(argc, argv, &o, err) != 0)
		return CLI_USAGE;
	if (o.help) {
		fputs(usage_text, out);
		return CLI_OK;
	}
	if (o.cmd == NULL) {
		fputs(usage_text, err);
		return CLI_USAGE;
	}
	if (check_args(&o, err) != 0)
		return CLI_USAGE;
	if (cli_api_resolve(&api, o.host, msg, sizeof(msg)) != 0) {
		fprintf(err, "sim toxic: %s\n", msg);
		return CLI_USAGE;
	}
	if (o.proxy != NULL && cli_path_escape(o.proxy, eproxy, sizeof(eproxy)) != 0) {
		fprintf(err, "sim toxic: proxy name too long\n");
		return CLI_USAGE;
	}
	if (strcmp(o.cmd, "list") == 0)
		return cmd_list(&api, out, err);
	if (strcmp(o.cmd, "inspect") == 0)
		return cmd_inspect(&api, o.proxy, eproxy, out, err);
	if (strcmp(o.cmd, "add") == 0 || strcmp(o.cmd, "update") == 0)
		return cmd_add_update(&api, &o, eproxy, strcmp(o.cmd, "add") == 0, out, err);
	if (strcmp(o.cmd, "remove") == 0)
		return cmd_remove(&api, &o, eproxy, out, err);
	return cmd_toggle(&api, o.proxy, eproxy, out, err);
}

int sim_toxic_main(int argc, char **argv)
{
	int rc = sim_toxic_run(argc, argv, stdout, stderr);

	if (fflush(stdout) != 0 && rc == CLI_OK)
		rc = CLI_REFUSED;
	return rc;
}
