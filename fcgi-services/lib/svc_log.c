/* svc_log.c - one JSON line per event to stderr, with the request id when there is one */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "svc_log_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"

/*
 * The process's service name for lines logged outside a request. Written once by
 * svc_main before any thread starts, read-only afterwards.
 */
static const char *svc_log_name = "shoplab";

void
svc_log_set_name(const char *name)
{
	svc_log_name = name;
}

const char *
svc_log_service_name(void)
{
	return svc_log_name;
}

/* Escapes s as the inside of a JSON string into out (always terminated, truncated to fit). */
size_t
svc_json_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outlen == 0)
		return 0;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}

void
svc_log_time(char *out, size_t outlen)
{
	struct timespec	ts;
	struct tm	tm;
	char		base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* Writes one line with a single write(2) so that lines from threads never interleave. */
void
svc_log_line(const char *line, size_t len)
{
	ssize_t w = write(STDERR_FILENO, line, len);

	(void)w;
}

void
svc_logbuf_init(struct svc_logbuf *lb, int fd)
{
	lb->fd = fd;
	lb->len = 0;
	lb->first_us = 0;
	lb->ts_sec = (time_t)-1;
	lb->ts_base[0] = '\0';
}

/* A bounded line under construction: once something did not fit, nothing more is added. */
struct svc_line {
	char	*p;
	size_t	 len, cap;
	int	 over;
};

static void
svc_line_put(struct svc_line *l, const char *s, size_t n)
{
	if (l->over || n > l->cap - l->len) {
		l->over = 1;
		return;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void
svc_line_str(struct svc_line *l, const char *s)
{
	svc_line_put(l, s, strlen(s));
}

static void
svc_line_ll(struct svc_line *l, long long v)
{
	char	b[SVC_LL_DIGITS];
	size_t	i = svc_fmt_ll(b, v);

	svc_line_put(l, b + i, sizeof(b) - i);
}

/* ,"key":"v" (v as it is: the caller escapes it). */
static void
svc_line_member(struct svc_line *l, const char *key, const char *v)
{
	svc_line_str(l, ",\"");
	svc_line_str(l, key);
	svc_line_str(l, "\":\"");
	svc_line_str(l, v);
	svc_line_put(l, "\"", 1);
}

/* ,"key":v */
static void
svc_line_member_ll(struct svc_line *l, const char *key, long long v)
{
	svc_line_str(l, ",\"");
	svc_line_str(l, key);
	svc_line_str(l, "\":");
	svc_line_ll(l, v);
}

size_t
svc_log_request_line(struct svc_logbuf *lb, char *out, size_t outlen, const char *service,
    const char *rid, const char *route, const char *path, int status, int64_t dur_us,
    int64_t user_id)
{
	struct svc_line	l = { out, 0, outlen, 0 };
	struct timespec	ts;
	struct tm	tm;
	char		ms[6], epath[512];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != lb->ts_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		if (strftime(lb->ts_base, sizeof(lb->ts_base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			lb->ts_base[0] = '\0';
		lb->ts_sec = ts.tv_sec;
	}
	ms[0] = '.';
	ms[1] = (char)('0' + ts.tv_nsec / 100000000);
	ms[2] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	ms[3] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	ms[4] = 'Z';
	ms[5] = '"';
	svc_json_escape(path, epath, sizeof(epath));
	svc_line_str(&l, "{\"ts\":\"");
	svc_line_str(&l, lb->ts_base);
	svc_line_put(&l, ms, sizeof(ms));
	svc_line_member(&l, "level", "info");
	svc_line_member(&l, "service", service);
	svc_line_member(&l, "request_id", rid);
	svc_line_member(&l, "route", route);
	svc_line_member(&l, "path", epath);
	svc_line_member_ll(&l, "status", status);
	svc_line_member_ll(&l, "duration_us", dur_us);
	svc_line_member_ll(&l, "user_id", user_id);
	svc_line_str(&l, "}\n");
	return l.over ? 0 : l.len;
}

/* Writes data[0..len) whole, across short writes; a failed write drops the rest (logs are
 * best effort: a full disk must not stop the service). */
static void
svc_log_write_all(int fd, const char *data, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		data += w;
		len -= (size_t)w;
	}
}

void
svc_logbuf_flush(struct svc_logbuf *lb)
{
	if (lb->len == 0)
		return;
	svc_log_write_all(lb->fd, lb->data, lb->len);
	lb->len = 0;
}

int64_t
svc_logbuf_due_us(const struct svc_logbuf *lb, int64_t now_us, int64_t hold_us)
{
	int64_t left;

	if (lb->len == 0)
		return -1;
	left = lb->first_us + hold_us - now_us;
	return left > 0 ? left : 0;
}

void
svc_logbuf_add(struct svc_logbuf *lb, const char *line, size_t len, int64_t now_us,
    int64_t hold_us)
{
	if (lb->len + len > sizeof(lb->data))
		svc_logbuf_flush(lb);
	if (len > sizeof(lb->data)) {
		svc_log_write_all(lb->fd, line, len);
		return;
	}
	if (lb->len == 0)
		lb->first_us = now_us;
	memcpy(lb->data + lb->len, line, len);
	lb->len += len;
	if (hold_us <= 0 || now_us - lb->first_us >= hold_us)
		svc_logbuf_flush(lb);
}

/*
 * The least level logged (SHOPLAB_LOG_LEVEL: debug, info, warn, error; default info), read
 * once by the first line logged and read-only after that.
 */
static pthread_once_t	svc_log_once = PTHREAD_ONCE_INIT;
static int		svc_log_min = 1;

static int
svc_log_rank(const char *level)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(level, names[i]) == 0)
			return i;
	return 1;
}

static void
svc_log_init(void)
{
	const char *v = getenv("SHOPLAB_LOG_LEVEL");

	if (v != NULL && *v != '\0')
		svc_log_min = svc_log_rank(v);
}

void
svc_log(struct svc_req *r, const char *level, const char *fmt, ...)
{
	char	msg[512], emsg[1024], ts[40], line[1536];
	va_list	ap;
	int	n;

	pthread_once(&svc_log_once, svc_log_init);
	if (svc_log_rank(level) < svc_log_min)
		return;
	/* The worker's held request lines go first, so its lines stay in order. */
	if (r != NULL && r->w != NULL)
		svc_logbuf_flush(&r->w->log);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	svc_json_escape(msg, emsg, sizeof(emsg));
	svc_log_time(ts, sizeof(ts));
	n = snprintf(line, sizeof(line),
	    "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"request_id\":\"%s\",\"msg\":\"%s\"}\n",
	    ts, level, r != NULL ? r->srv->svc->name : svc_log_service_name(),
	    r != NULL ? r->rid : "", emsg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	svc_log_line(line, (size_t)n);
}
