/* fuzz_request.c - libFuzzer target: request bodies, query strings, path ids, bearer tokens, event envelopes */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_events.h"
#include "users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svc_server	 srv;
	struct svc_service	 svc;
	struct svc_req		 r;
	struct svc_buf		 out;
	struct users_claims	 c;
	struct svc_event	 ev;
	json_object		*obj = NULL;
	const char		*s;
	char			*str, val[64];
	int64_t			 v;

	if ((str = malloc(size + 1)) == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';

	memset(&srv, 0, sizeof(srv));
	memset(&svc, 0, sizeof(svc));
	memset(&r, 0, sizeof(r));
	svc.name = "fuzz";
	srv.svc = &svc;
	srv.cfg.max_body = 65536;
	r.srv = &srv;
	r.method = "POST";
	r.path = "/";
	r.query = str;
	memcpy(r.rid, "fuzz", 5);
	svc_buf_init(&out);
	svc_buf_init(&r.headers);
	r.capture = &out;

	/* The body as JSON, then typed fields out of it. */
	if (svc_json_parse_or_reply(&r, (const char *)data, size, &obj) == SVC_OK) {
		svc_json_str_or_reply(&r, obj, "email", 1, 254, 1, &s);
		svc_json_int_or_reply(&r, obj, "quantity", 1, 1000, 1, &v);
	}
	/* The same bytes as a query string and as an id. */
	svc_req_query(&r, "q", val, sizeof(val));
	svc_req_query(&r, "limit", val, sizeof(val));
	svc_parse_id(str, &v);
	svc_req_id_sane(str);
	/* And as a bearer token. */
	users_jwt_verify(str, "0123456789abcdef0123456789abcdef", 1700000000, &c);
	/* And as an event from the broker: the envelope, then its time, as the consumer reads them. */
	if (svc_event_parse(str, size, &ev) == SVC_OK) {
		svc_event_time_parse(ev.occurred_at, &v);
		svc_event_free(&ev);
	}
	svc_event_time_parse(str, &v);

	svc_req_run_deferred(&r);
	svc_buf_free(&r.headers);
	svc_buf_free(&out);
	free(str);
	return 0;
}
