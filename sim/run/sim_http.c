/* sim_http.c - blocking HTTP helper for set-up, the proxy API and metric scrapes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sim_http.h"

struct sink {
	char *buf;
	size_t len, cap;
};

static size_t
sim_http_on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n, room;

	if (s->buf && s->cap > 0) {
		room = s->cap - 1 - s->len;
		if (len < room)
			room = len;
		memcpy(s->buf + s->len, p, room);
		s->len += room;
		s->buf[s->len] = '\0';
	}
	return len;
}

long
sim_http(const char *method, const char *url, const char *body, const char *token,
    long timeout_ms, char *out, size_t outsz)
{
	struct sink sk = { out, 0, outsz };
	struct curl_slist *h = NULL;
	char auth[1200];
	const char *ca;
	long status = -1;
	CURLcode rc;
	CURL *c;

	if (out && outsz)
		out[0] = '\0';
	if ((c = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* A TLS=1 stack's own CA (make up writes it to shoplab.env); else the system's. */
	if ((ca = getenv("SHOPLAB_TLS_CA")) != NULL && *ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_http_on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sk);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (out && outsz)
		snprintf(out, outsz, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}
