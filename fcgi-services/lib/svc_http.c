/* svc_http.c - outbound HTTP over one reused libcurl handle per thread, with outcome classes */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "svc.h"
#include "svc_resilience.h"

#define SVC_HTTP_URL_MAX	1024
#define SVC_HTTP_VALUE_MAX	256	/* one header value */
#define SVC_HTTP_JSON_DEPTH	32

static const char *const svc_http_class_names[] = {
	[SVC_HTTP_OK] = "ok",
	[SVC_HTTP_DEFINITE] = "definite",
	[SVC_HTTP_RETRYABLE] = "retryable",
	[SVC_HTTP_UNKNOWN] = "unknown",
};

const char *
svc_http_class_name(enum svc_http_class cls)
{
	if ((size_t)cls >= SVC_NELEM(svc_http_class_names))
		return "invalid";
	return svc_http_class_names[cls];
}

int
svc_http_client_init(struct svc_http_client *c)
{
	c->easy = curl_easy_init();
	return c->easy != NULL ? 0 : -1;
}

void
svc_http_client_free(struct svc_http_client *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

void
svc_http_result_init(struct svc_http_result *res)
{
	memset(res, 0, sizeof(*res));
	svc_buf_init(&res->body);
}

void
svc_http_result_reset(struct svc_http_result *res)
{
	svc_buf_reset(&res->body);
	if (res->json != NULL)
		json_object_put(res->json);
	res->json = NULL;
	res->cls = SVC_HTTP_OK;
	res->status = 0;
	res->sent = 0;
	res->error[0] = '\0';
}

void
svc_http_result_free(struct svc_http_result *res)
{
	svc_http_result_reset(res);
	svc_buf_free(&res->body);
}

/* A header value or URL must be printable ASCII: no CR/LF to smuggle in another header. */
static int
svc_http_clean(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

int
svc_http_call_check(const struct svc_http_call *call, char *err, size_t errlen)
{
	const char *const values[] = { call->request_id, call->service_token,
	    call->idempotency_key };
	size_t i;

	if (call->method == NULL || call->method[0] == '\0' ||
	    strspn(call->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(call->method) ||
	    strlen(call->method) > 16) {
		snprintf(err, errlen, "bad method");
		return -1;
	}
	if (call->base_url == NULL || call->path == NULL || call->path[0] != '/' ||
	    strlen(call->base_url) + strlen(call->path) >= SVC_HTTP_URL_MAX ||
	    !svc_http_clean(call->base_url, SVC_HTTP_URL_MAX) ||
	    !svc_http_clean(call->path, SVC_HTTP_URL_MAX) || strchr(call->path, ' ') != NULL) {
		snprintf(err, errlen, "bad URL");
		return -1;
	}
	for (i = 0; i < SVC_NELEM(values); i++)
		if (values[i] != NULL && !svc_http_clean(values[i], SVC_HTTP_VALUE_MAX)) {
			snprintf(err, errlen, "bad header value");
			return -1;
		}
	return 0;
}

struct svc_http_sink {
	struct svc_buf	*buf;
	size_t		 max;
	int		 over;
};

static size_t
svc_http_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct svc_http_sink	*s = arg;
	size_t			 n = size * nmemb;

	if (n > s->max - s->buf->len) {
		s->over = 1;
		return 0;
	}
	if (svc_buf_append(s->buf, p, n) == -1)
		return 0;
	return n;
}

/* Appends "name: value" to the list; -1 when out of memory. */
static int
svc_http_header(struct curl_slist **list, const char *name, const char *value)
{
	char			 line[SVC_HTTP_VALUE_MAX + 64];
	struct curl_slist	*l;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	if ((l = curl_slist_append(*list, line)) == NULL)
		return -1;
	*list = l;
	return 0;
}

static enum svc_http_class
svc_http_class_of_status(long status)
{
	if (status >= 200 && status < 300)
		return SVC_HTTP_OK;
	/* The gateway gave up waiting for its upstream, which may still have done the work. */
	if (status == 504)
		return SVC_HTTP_UNKNOWN;
	if (status >= 500 && status < 600)
		return SVC_HTTP_RETRYABLE;
	if (status >= 300 && status < 500)
		return SVC_HTTP_DEFINITE;
	return SVC_HTTP_UNKNOWN;
}

static void
svc_http_parse_json(CURL *e, struct svc_http_result *res)
{
	struct json_tokener	*tok;
	const char		*ctype = NULL;

	if (res->body.len == 0 || curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK ||
	    ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0)
		return;
	if ((tok = json_tokener_new_ex(SVC_HTTP_JSON_DEPTH)) == NULL)
		return;
	res->json = json_tokener_parse_ex(tok, res->body.data, (int)res->body.len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		if (res->json != NULL)
			json_object_put(res->json);
		res->json = NULL;
		snprintf(res->error, sizeof(res->error), "response is not valid JSON");
	}
	json_tokener_free(tok);
}

static long
svc_http_ms(int64_t us)
{
	/* curl reads 0 as "no timeout": the shortest wait it can be given is 1 ms. */
	return us < 1000 ? 1 : (long)(us / 1000);
}

int
svc_http_perform(struct svc_http_client *c, const struct svc_http_call *call,
    const struct svc_http_opts *opts, struct svc_http_result *res)
{
	CURL			*e = c->easy;
	struct curl_slist	*hdrs = NULL;
	struct svc_http_sink	 sink;
	char			 url[SVC_HTTP_URL_MAX], ebuf[CURL_ERROR_SIZE], ms[32];
	int64_t			 total_us, conn_us;
	long			 status = 0, reqsize = 0;
	CURLcode		 cc;
	int			 rc = -1;

	svc_http_result_reset(res);
	if (e == NULL) {
		snprintf(res->error, sizeof(res->error), "HTTP client not initialised");
		return -1;
	}
	if (svc_http_call_check(call, res->error, sizeof(res->error)) == -1)
		return -1;
	snprintf(url, sizeof(url), "%s%s", call->base_url, call->path);
	total_us = opts->timeout_us < opts->remaining_us ? opts->timeout_us : opts->remaining_us;
	conn_us = opts->connect_timeout_us < total_us ? opts->connect_timeout_us : total_us;
	snprintf(ms, sizeof(ms), "%lld", (long long)(opts->remaining_us > 0 ?
	    opts->remaining_us / 1000 : 0));

	if (svc_http_header(&hdrs, "Accept", "application/json") == -1 ||
	    svc_http_header(&hdrs, "Expect", "") == -1 ||
	    svc_http_header(&hdrs, "X-Deadline-Ms", ms) == -1 ||
	    (call->body != NULL &&
	    svc_http_header(&hdrs, "Content-Type", "application/json") == -1) ||
	    (call->request_id != NULL &&
	    svc_http_header(&hdrs, "X-Request-Id", call->request_id) == -1) ||
	    (call->service_token != NULL &&
	    svc_http_header(&hdrs, "X-Service-Token", call->service_token) == -1) ||
	    (call->idempotency_key != NULL &&
	    svc_http_header(&hdrs, "Idempotency-Key", call->idempotency_key) == -1)) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out_free_headers;
	}

	sink.buf = &res->body;
	sink.max = opts->max_body;
	sink.over = 0;
	ebuf[0] = '\0';
	/* Reset keeps the connection cache: the next call to the same host reuses the socket. */
	curl_easy_reset(e);
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, svc_http_ms(total_us)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, svc_http_ms(conn_us)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "shoplab-svc") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, svc_http_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf) != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "cannot set curl options");
		goto out_free_headers;
	}
	if (call->body != NULL || strcmp(call->method, "POST") == 0) {
		const char *body = call->body != NULL ? call->body : "";

		if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
			snprintf(res->error, sizeof(res->error), "cannot set the request body");
			goto out_free_headers;
		}
	}
	if (strcmp(call->method, "GET") != 0 && strcmp(call->method, "POST") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method) != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "cannot set the method");
		goto out_free_headers;
	}

	cc = curl_easy_perform(e);
	if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	/* Counted once the request head has been written to the socket, reset per transfer. */
	if (curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &reqsize) != CURLE_OK)
		reqsize = 0;
	res->status = (int)status;
	res->sent = reqsize > 0;
	if (cc == CURLE_OK) {
		res->cls = svc_http_class_of_status(status);
		svc_http_parse_json(e, res);
	} else if (sink.over) {
		res->cls = svc_http_class_of_status(status);
		/* The dependency said yes but we cannot read what it did: treat it as unknown. */
		if (res->cls == SVC_HTTP_OK)
			res->cls = SVC_HTTP_UNKNOWN;
		snprintf(res->error, sizeof(res->error), "response body over %zu bytes",
		    opts->max_body);
	} else {
		switch (cc) {
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			res->cls = SVC_HTTP_RETRYABLE;
			break;
		default:
			res->cls = res->sent ? SVC_HTTP_UNKNOWN : SVC_HTTP_RETRYABLE;
			break;
		}
		snprintf(res->error, sizeof(res->error), "%.120s", ebuf[0] != '\0' ? ebuf :
		    curl_easy_strerror(cc));
	}
	rc = 0;
out_free_headers:
	/* The handle must not keep pointers into this frame or into the freed header list. */
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}
