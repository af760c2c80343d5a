/* proxy_fcgi.c - FastCGI record framing, PARAMS lookup and the error answer the proxy writes */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proxy.h"

/* Returns the whole record's length when buf holds one complete record, 0 when more bytes are
 * needed, -1 when the bytes are not FastCGI (version other than 1). */
long
sim_fcgi_record_peek(const unsigned char *buf, size_t len, struct sim_fcgi_hdr *h)
{
	size_t total;

	if (len < SIM_FCGI_HEADER_LEN)
		return 0;
	h->version = buf[0];
	h->type = buf[1];
	h->id = (uint16_t)((buf[2] << 8) | buf[3]);
	h->clen = (uint16_t)((buf[4] << 8) | buf[5]);
	h->padding = buf[6];
	if (h->version != 1)
		return -1;
	total = SIM_FCGI_HEADER_LEN + (size_t)h->clen + h->padding;
	if (len < total)
		return 0;
	return (long)total;
}

static bool
sim_fcgi_nv_len(const unsigned char *buf, size_t len, size_t *pos, size_t *out)
{
	if (*pos >= len)
		return false;
	if ((buf[*pos] & 0x80) == 0) {
		*out = buf[*pos];
		*pos += 1;
		return true;
	}
	if (len - *pos < 4)
		return false;
	*out = ((size_t)(buf[*pos] & 0x7f) << 24) | ((size_t)buf[*pos + 1] << 16) |
	       ((size_t)buf[*pos + 2] << 8) | buf[*pos + 3];
	*pos += 4;
	return true;
}

/* Looks name up in a PARAMS stream (name-value pairs); copies the value, cut to outsz - 1
 * bytes and without NULs, into out. Returns whether it was found. */
bool
sim_fcgi_param_get(const unsigned char *buf, size_t len, const char *name, char *out,
    size_t outsz)
{
	size_t pos = 0, want = strlen(name);

	while (pos < len) {
		size_t nlen, vlen;

		if (!sim_fcgi_nv_len(buf, len, &pos, &nlen) || !sim_fcgi_nv_len(buf, len, &pos, &vlen))
			return false;
		if (nlen > len - pos || vlen > len - pos - nlen)
			return false;
		if (nlen == want && memcmp(buf + pos, name, nlen) == 0) {
			size_t n = 0;

			if (outsz == 0)
				return true;
			for (size_t i = 0; i < vlen && n + 1 < outsz; i++)
				if (buf[pos + nlen + i] != '\0')
					out[n++] = (char)buf[pos + nlen + i];
			out[n] = '\0';
			return true;
		}
		pos += nlen + vlen;
	}
	return false;
}

int
sim_fcgi_write_record(struct evbuffer *out, uint8_t type, uint16_t id, const void *data,
    size_t len)
{
	unsigned char h[SIM_FCGI_HEADER_LEN] = {
		1, type, (unsigned char)(id >> 8), (unsigned char)id,
		(unsigned char)(len >> 8), (unsigned char)len, 0, 0
	};

	if (len > 65535)
		return -1;
	if (evbuffer_add(out, h, sizeof(h)) != 0)
		return -1;
	if (len > 0 && evbuffer_add(out, data, len) != 0)
		return -1;
	return 0;
}

const char *
sim_http_reason(int status)
{
	static const struct { int status; const char *reason; } reasons[] = {
		{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" }, { 400, "Bad Request" }, { 401, "Unauthorized" }, { 402, "Payment Required" },
		{ 403, "Forbidden" }, { 404, "Not Found" }, { 408, "Request Timeout" },
		{ 405, "Method Not Allowed" }, { 409, "Conflict" }, { 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return status >= 500 ? "Server Error" : status >= 400 ? "Error" : "OK";
}

/* Writes a whole FastCGI answer for request id: STDOUT with a CGI Status header and the
 * project's JSON error, an empty STDOUT, then END_REQUEST (complete, app status 0). */
int
sim_fcgi_build_error(struct evbuffer *out, uint16_t id, int status, const char *code,
    const char *message, const char *request_id)
{
	static const unsigned char end[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	json_object *root = json_object_new_object();
	json_object *err = json_object_new_object();
	char head[256];
	const char *body;
	size_t blen, off = 0;
	int n, rc = -1;

	if (root == NULL || err == NULL)
		goto out_free;
	if (json_object_object_add(err, "code", json_object_new_string(code)) != 0 ||
	    json_object_object_add(err, "message", json_object_new_string(message)) != 0 ||
	    json_object_object_add(err, "request_id", json_object_new_string(request_id)) != 0)
		goto out_free;
	if (json_object_object_add(root, "error", err) != 0)
		goto out_free;
	err = NULL;
	body = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE);
	if (body == NULL)
		goto out_free;
	blen = strlen(body);
	n = snprintf(head, sizeof(head),
	             "Status: %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	             status, sim_http_reason(status), blen);
	if (n < 0 || (size_t)n >= sizeof(head))
		goto out_free;
	if (sim_fcgi_write_record(out, SIM_FCGI_STDOUT, id, head, (size_t)n) != 0)
		goto out_free;
	while (off < blen) {
		size_t part = blen - off > 65535 ? 65535 : blen - off;

		if (sim_fcgi_write_record(out, SIM_FCGI_STDOUT, id, body + off, part) != 0)
			goto out_free;
		off += part;
	}
	if (sim_fcgi_write_record(out, SIM_FCGI_STDOUT, id, NULL, 0) != 0 ||
	    sim_fcgi_write_record(out, SIM_FCGI_END_REQUEST, id, end, sizeof(end)) != 0)
		goto out_free;
	rc = 0;
out_free:
	json_object_put(err);
	json_object_put(root);
	return rc;
}
