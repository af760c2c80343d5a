/* proxy_faultlog.c - one JSON line per fault applied, for replay and for the run report */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "proxy_api.h"

static void
sim_faultlog_stamp(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
		snprintf(out, outsz, "1970-01-01T00:00:00.000000Z");
		return;
	}
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

/* Writes f as one line: time, proxy, toxic, type, stream, conn, and for FastCGI the record's
 * request id, the toxic's request number, the request's X-Request-Id and whether it went
 * upstream before the fault. */
void
sim_fault_record(struct sim_ctx *ctx, const struct sim_fault *f)
{
	json_object *o;
	char ts[96];
	const char *line;

	if (ctx->fault_log == NULL)
		return;
	o = json_object_new_object();
	if (o == NULL)
		return;
	sim_faultlog_stamp(ts, sizeof(ts));
	if (sim_json_add(o, "time", json_object_new_string(ts)) != 0 ||
	    sim_json_add(o, "proxy", json_object_new_string(f->toxic->proxy->name)) != 0 ||
	    sim_json_add(o, "toxic", json_object_new_string(f->toxic->name)) != 0 ||
	    sim_json_add(o, "type", json_object_new_string(f->toxic->type->name)) != 0 ||
	    sim_json_add(o, "stream", json_object_new_string(f->toxic->stream)) != 0 ||
	    sim_json_add(o, "conn", json_object_new_int64((int64_t)f->conn_id)) != 0)
		goto out_put;
	if (f->fcgi &&
	    (sim_json_add(o, "fcgi_request_id", json_object_new_int((int)f->fcgi_id)) != 0 ||
	     sim_json_add(o, "request_seq", json_object_new_int64((int64_t)f->seq)) != 0 ||
	     sim_json_add(o, "request_id", json_object_new_string(f->request_id != NULL ? f->request_id
	                                                                          : "")) != 0 ||
	     sim_json_add(o, "forwarded", json_object_new_boolean(f->forwarded)) != 0))
		goto out_put;
	if (f->value >= 0 &&
	    sim_json_add(o, strcmp(f->toxic->type->name, "fcgi_abort") == 0 ? "status" : "delay_ms",
	        json_object_new_int64(f->value)) != 0)
		goto out_put;
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                         JSON_C_TO_STRING_NOSLASHESCAPE);
	if (line != NULL && fprintf(ctx->fault_log, "%s\n", line) > 0 && fflush(ctx->fault_log) == 0)
		ctx->m_faults_logged++;
out_put:
	json_object_put(o);
}
