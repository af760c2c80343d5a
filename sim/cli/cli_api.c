/* cli_api.c - where the proxy API is (--host, TOXIPROXY_URL, SHOPLAB_PROXY_API, the stack's shoplab.env) and one blocking call to it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cli.h"

#define CLI_DEFAULT_API "127.0.0.1:8474"
#define CLI_BODY_MAX (4u << 20)

/* Reads NAME=value for name from $SHOPLAB_RUN/shoplab.env (default ./run). Returns 1 found,
 * 0 not there (or no file). */
static int
cli_api_env_file_get(const char *name, char *out, size_t outsz)
{
	const char *run = getenv("SHOPLAB_RUN");
	char path[1024], line[1024];
	size_t nlen = strlen(name);
	FILE *f;
	int found = 0;

	if (snprintf(path, sizeof(path), "%s/shoplab.env", run != NULL && *run ? run : "./run") >=
	    (int)sizeof(path))
		return 0;
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, name, nlen) == 0 && line[nlen] == '=' && line[nlen + 1] != '\0') {
			found = snprintf(out, outsz, "%s", line + nlen + 1) < (int)outsz;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Finds the API: --host, else $TOXIPROXY_URL (as toxiproxy-cli), else $SHOPLAB_PROXY_API, else SHOPLAB_PROXY_API in the stack's
 * shoplab.env, else 127.0.0.1:8474. "host:port" and "http://host:port" are both taken.
 * Returns 0, or -1 with err set. */
int
cli_api_resolve(struct cli_api *api, const char *host_flag, char *err, size_t errsz)
{
	char v[CLI_URL_MAX];
	const char *env = getenv("SHOPLAB_PROXY_API"), *tp = getenv("TOXIPROXY_URL");
	size_t n;

	if (host_flag != NULL) {
		snprintf(v, sizeof(v), "%s", host_flag);
		api->from = "--host";
	} else if (tp != NULL && *tp) {
		snprintf(v, sizeof(v), "%s", tp);
		api->from = "TOXIPROXY_URL";
	} else if (env != NULL && *env) {
		snprintf(v, sizeof(v), "%s", env);
		api->from = "SHOPLAB_PROXY_API";
	} else if (cli_api_env_file_get("SHOPLAB_PROXY_API", v, sizeof(v))) {
		api->from = "shoplab.env";
	} else {
		snprintf(v, sizeof(v), "%s", CLI_DEFAULT_API);
		api->from = "default";
	}
	if (v[0] == '\0' || strpbrk(v, " \t\r\n") != NULL) {
		snprintf(err, errsz, "bad proxy API address '%s' (from %s)", v, api->from);
		return -1;
	}
	if (snprintf(api->base, sizeof(api->base), "%s%s", strstr(v, "://") != NULL ? "" : "http://",
	             v) >= (int)sizeof(api->base)) {
		snprintf(err, errsz, "proxy API address too long (from %s)", api->from);
		return -1;
	}
	n = strlen(api->base);
	while (n > 0 && api->base[n - 1] == '/')
		api->base[--n] = '\0';
	return 0;
}

/* Percent-encodes one path segment (a proxy or toxic name). Returns 0, or -1 if too long. */
int
cli_path_escape(const char *segment, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)segment; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= outsz)
				return -1;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outsz)
		return -1;
	out[o] = '\0';
	return 0;
}

struct sink {
	char *buf;
	size_t len;
	int too_big;
};

static size_t
cli_api_sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	char *nb;

	if (s->len + n > CLI_BODY_MAX) {
		s->too_big = 1;
		return 0;
	}
	nb = realloc(s->buf, s->len + n + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + s->len, data, n);
	s->len += n;
	nb[s->len] = '\0';
	s->buf = nb;
	return n;
}

/* One request to the API: method on base + path, with body (may be NULL) as JSON. Fills rep
 * (free it with cli_reply_free). Returns 0 when the API answered (any status; an error's
 * message from {"error":…} goes into rep->error), -1 when it could not be reached (rep->error
 * says why, rep->status is 0). */
int
cli_api_call(const struct cli_api *api, const char *method, const char *path,
    json_object *body, struct cli_reply *rep)
{
	char url[CLI_URL_MAX * 2];
	struct sink s = { NULL, 0, 0 };
	struct curl_slist *hdrs = NULL;
	CURL *curl = NULL;
	CURLcode cc;
	const char *payload = NULL;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (snprintf(url, sizeof(url), "%s%s", api->base, path) >= (int)sizeof(url)) {
		snprintf(rep->error, sizeof(rep->error), "URL too long");
		goto out;
	}
	curl = curl_easy_init();
	if (curl == NULL) {
		snprintf(rep->error, sizeof(rep->error), "cannot start libcurl");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (hdrs == NULL) {
		snprintf(rep->error, sizeof(rep->error), "out of memory");
		goto out_cleanup;
	}
	if (body != NULL) {
		payload = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
		if (payload == NULL) {
			snprintf(rep->error, sizeof(rep->error), "out of memory");
			goto out_cleanup;
		}
	}
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sim-toxic") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_api_sink_write) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
	    (payload != NULL && curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload) != CURLE_OK)) {
		snprintf(rep->error, sizeof(rep->error), "cannot set up the request");
		goto out_cleanup;
	}
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(rep->error, sizeof(rep->error), "%s", s.too_big ? "answer too large" :
		         curl_easy_strerror(cc));
		goto out_cleanup;
	}
	if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &rep->status) != CURLE_OK) {
		snprintf(rep->error, sizeof(rep->error), "no HTTP status");
		goto out_cleanup;
	}
	if (s.len > 0)
		rep->json = json_tokener_parse(s.buf);
	if (rep->status >= 400) {
		json_object *e = NULL;

		if (rep->json != NULL && json_object_object_get_ex(rep->json, "error", &e) &&
		    json_object_is_type(e, json_type_string))
			snprintf(rep->error, sizeof(rep->error), "%s", json_object_get_string(e));
		else
			snprintf(rep->error, sizeof(rep->error), "HTTP %ld: %.200s", rep->status,
			         s.buf != NULL ? s.buf : "");
		for (size_t n = strlen(rep->error); n > 0 && rep->error[n - 1] == '\n'; n--)
			rep->error[n - 1] = '\0';
	}
	rc = 0;
out_cleanup:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
out:
	free(s.buf);
	if (rc != 0)
		rep->status = 0;
	return rc;
}

void
cli_reply_free(struct cli_reply *rep)
{
	json_object_put(rep->json);
	rep->json = NULL;
}
