/* svc_fcgi.c - the responder's side of a FastCGI connection: records in, one write out */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc_internal.h"

/* Record types and values of the FastCGI 1.0 specification. */
enum {
	FCGI_BEGIN_REQUEST = 1, FCGI_ABORT_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN,
	FCGI_STDOUT, FCGI_STDERR, FCGI_DATA, FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT,
	FCGI_UNKNOWN_TYPE
};
#define FCGI_RESPONDER		1
#define FCGI_KEEP_CONN		1
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_CANT_MPX_CONN	1
#define FCGI_UNKNOWN_ROLE	3
#define FCGI_HDR		8
#define FCGI_MAX_CONTENT	65535

void
svc_fcgi_init(struct svc_fcgi *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	svc_buf_init(&c->params);
	svc_buf_init(&c->body);
	svc_buf_init(&c->out);
}

void
svc_fcgi_free(struct svc_fcgi *c)
{
	free(c->in);
	free(c->pv);
	svc_buf_free(&c->params);
	free(c->pstore);
	svc_buf_free(&c->body);
	svc_buf_free(&c->out);
	svc_fcgi_init(c);
}

void
svc_fcgi_attach(struct svc_fcgi *c, int fd)
{
	c->fd = fd;
	c->inlen = c->inpos = 0;
	c->reqid = 0;
	c->active = 0;
}

static void
svc_fcgi_header(unsigned char *h, int type, unsigned reqid, size_t len)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(reqid >> 8);
	h[3] = (unsigned char)reqid;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;
	h[7] = 0;
}

/* Writes every iovec whole, across short writes. 0 or -1. */
static int
svc_fcgi_writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = writev(fd, iov, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int
svc_fcgi_end_request(struct svc_fcgi *c, unsigned reqid, int protocol_status)
{
	unsigned char	rec[16];
	struct iovec	iov;

	svc_fcgi_header(rec, FCGI_END_REQUEST, reqid, 8);
	memset(rec + 8, 0, 8);
	rec[12] = (unsigned char)protocol_status;
	iov.iov_base = rec;
	iov.iov_len = sizeof(rec);
	return svc_fcgi_writev_all(c->fd, &iov, 1);
}

/*
 * Makes the next record whole in c->in (reading as needed): its header at c->in + c->inpos.
 * 1 when there is one, 0 at a clean end of the connection, -1 on an error.
 */
static int
svc_fcgi_next_record(struct svc_fcgi *c, size_t *clen)
{
	size_t		 need;
	ssize_t		 got;
	unsigned char	*p;

	for (;;) {
		if (c->inlen - c->inpos >= FCGI_HDR) {
			p = c->in + c->inpos;
			if (p[0] != 1)
				return -1;
			*clen = (size_t)p[4] << 8 | p[5];
			need = FCGI_HDR + *clen + p[6];
			if (c->inlen - c->inpos >= need)
				return 1;
		} else
			need = FCGI_HDR;
		/* Room for the whole record: move what is left to the front, grow if need be. */
		if (c->inpos > 0) {
			memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
			c->inlen -= c->inpos;
			c->inpos = 0;
		}
		if (c->incap < need || c->incap - c->inlen < 512) {
			size_t ncap = c->incap ? c->incap : SVC_FCGI_INBUF;

			while (ncap < need || ncap - c->inlen < 512)
				ncap *= 2;
			if ((p = realloc(c->in, ncap)) == NULL)
				return -1;
			c->in = p;
			c->incap = ncap;
		}
		got = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return got == 0 && c->inlen == 0 && !c->active ? 0 : -1;
		c->inlen += (size_t)got;
	}
}

/* One name or value length of a pair: 1 byte, or 4 with the high bit set. -1 if cut short. */
static int
svc_fcgi_pair_len(const unsigned char **pp, const unsigned char *end, size_t *len)
{
	const unsigned char *p = *pp;

	if (p >= end)
		return -1;
	if (*p & 0x80) {
		if (end - p < 4)
			return -1;
		*len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) |
		    p[3];
		*pp = p + 4;
	} else {
		*len = *p;
		*pp = p + 1;
	}
	return 0;
}

/*
 * Decodes the params stream into c->pv, names and values NUL-terminated in c->pstore. A
 * pair takes at least two length bytes in the stream and two NULs in the store, so the
 * store never needs more than the stream's length: reserved once, never moved.
 */
static int
svc_fcgi_split_params(struct svc_fcgi *c)
{
	const unsigned char	*p = (const unsigned char *)c->params.data;
	const unsigned char	*end = p + c->params.len;
	size_t			 nl, vl, n = 0, o = 0;

	if (c->pstorecap < c->params.len + 1) {
		char *s = realloc(c->pstore, c->params.len + 1);

		if (s == NULL)
			return -1;
		c->pstore = s;
		c->pstorecap = c->params.len + 1;
	}
	while (p < end) {
		if (svc_fcgi_pair_len(&p, end, &nl) == -1 ||
		    svc_fcgi_pair_len(&p, end, &vl) == -1 ||
		    nl > (size_t)(end - p) || vl > (size_t)(end - p) - nl)
			return -1;
		if (n == c->pvcap) {
			size_t			 ncap = c->pvcap ? 2 * c->pvcap : 32;
			struct svc_fcgi_param	*pv = realloc(c->pv, ncap * sizeof(*pv));

			if (pv == NULL)
				return -1;
			c->pv = pv;
			c->pvcap = ncap;
		}
		c->pv[n].namelen = nl;
		c->pv[n].name = c->pstore + o;
		memcpy(c->pstore + o, p, nl);
		o += nl;
		c->pstore[o++] = '\0';
		c->pv[n].value = c->pstore + o;
		memcpy(c->pstore + o, p + nl, vl);
		o += vl;
		c->pstore[o++] = '\0';
		p += nl + vl;
		n++;
	}
	c->npv = n;
	return 0;
}

const char *
svc_fcgi_param(const struct svc_fcgi *c, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < c->npv; i++)
		if (c->pv[i].namelen == len && memcmp(c->pv[i].name, name, len) == 0)
			return c->pv[i].value;
	return NULL;
}

/* A management record (request id 0): FCGI_GET_VALUES is answered, anything else is unknown. */
static int
svc_fcgi_management(struct svc_fcgi *c, int type, const unsigned char *content, size_t len)
{
	static const char	 mpxs[] = "\017\001FCGI_MPXS_CONNS0";
	unsigned char		 rec[FCGI_HDR + 24];
	const unsigned char	*p = content, *end = content + len;
	size_t			 nl, vl, n = 0;
	struct iovec		 iov;

	if (type == FCGI_GET_VALUES) {
		/* Only FCGI_MPXS_CONNS is known: one request at a time per connection. */
		while (p < end && svc_fcgi_pair_len(&p, end, &nl) == 0 &&
		    svc_fcgi_pair_len(&p, end, &vl) == 0 && nl <= (size_t)(end - p) &&
		    vl <= (size_t)(end - p) - nl) {
			if (nl == 15 && memcmp(p, "FCGI_MPXS_CONNS", 15) == 0 && n == 0) {
				memcpy(rec + FCGI_HDR, mpxs, sizeof(mpxs) - 1);
				n = sizeof(mpxs) - 1;
			}
			p += nl + vl;
		}
		svc_fcgi_header(rec, FCGI_GET_VALUES_RESULT, 0, n);
	} else {
		svc_fcgi_header(rec, FCGI_UNKNOWN_TYPE, 0, 8);
		memset(rec + FCGI_HDR, 0, 8);
		rec[FCGI_HDR] = (unsigned char)type;
		n = 8;
	}
	iov.iov_base = rec;
	iov.iov_len = FCGI_HDR + n;
	return svc_fcgi_writev_all(c->fd, &iov, 1);
}

int
svc_fcgi_read_request(struct svc_fcgi *c, size_t max_body)
{
	const unsigned char	*h, *content;
	size_t			 clen;
	unsigned		 reqid;
	int			 rc, params_done = 0;

	c->active = 0;
	for (;;) {
		if ((rc = svc_fcgi_next_record(c, &clen)) != 1)
			return rc;
		h = c->in + c->inpos;
		content = h + FCGI_HDR;
		reqid = (unsigned)h[2] << 8 | h[3];
		c->inpos += FCGI_HDR + clen + h[6];
		if (reqid == 0) {
			if (svc_fcgi_management(c, h[1], content, clen) == -1)
				return -1;
			continue;
		}
		if (h[1] == FCGI_BEGIN_REQUEST) {
			if (clen < 8)
				return -1;
			if (c->active) {
				/* One request at a time on a connection. */
				if (reqid != c->reqid &&
				    svc_fcgi_end_request(c, reqid, FCGI_CANT_MPX_CONN) == 0)
					continue;
				return -1;
			}
			if (((unsigned)content[0] << 8 | content[1]) != FCGI_RESPONDER) {
				if (svc_fcgi_end_request(c, reqid, FCGI_UNKNOWN_ROLE) == -1)
					return -1;
				continue;
			}
			c->active = 1;
			c->reqid = reqid;
			c->keep = (content[2] & FCGI_KEEP_CONN) != 0;
			c->body_total = 0;
			params_done = 0;
			svc_buf_reset(&c->params);
			svc_buf_reset(&c->body);
			svc_buf_reset(&c->out);
			c->npv = 0;
			continue;
		}
		if (!c->active || reqid != c->reqid)
			continue;	/* a record of no request we serve: ignored */
		switch (h[1]) {
		case FCGI_ABORT_REQUEST:
			/* Nothing was dispatched yet: answer it ended, and wait for the next. */
			c->active = 0;
			if (svc_fcgi_end_request(c, reqid, FCGI_REQUEST_COMPLETE) == -1 || !c->keep)
				return -1;
			break;
		case FCGI_PARAMS:
			if (params_done)
				return -1;
			if (clen == 0) {
				if (svc_fcgi_split_params(c) == -1)
					return -1;
				params_done = 1;
			} else if (c->params.len + clen > SVC_FCGI_PARAMS_MAX ||
			    svc_buf_append(&c->params, content, clen) == -1)
				return -1;
			break;
		case FCGI_STDIN:
			if (!params_done)
				return -1;
			if (clen == 0)
				return 1;	/* the whole request is here */
			/* Past the limit the bytes are counted, not kept: the handler says 413. */
			if (c->body.len < max_body)
				svc_buf_append(&c->body, content,
				    clen < max_body - c->body.len ? clen : max_body - c->body.len);
			if (c->body.failed)
				return -1;
			c->body_total += clen;
			break;
		default:
			break;	/* FCGI_DATA belongs to the filter role: ignored */
		}
	}
}

int
svc_fcgi_stdout(struct svc_fcgi *c, const void *data, size_t len)
{
	return svc_buf_append(&c->out, data, len);
}

int
svc_fcgi_finish(struct svc_fcgi *c)
{
	unsigned char	 hdrs[32][FCGI_HDR], tail[FCGI_HDR + 16];
	struct iovec	 iov[2 * 32 + 1];
	const char	*p = c->out.data;
	size_t		 left = c->out.len, chunk;
	int		 n = 0, k = 0, rc = -1;

	if (!c->active || c->out.failed)
		goto out;
	/* STDOUT records of at most 65535 bytes, then the empty one and FCGI_END_REQUEST. */
	svc_fcgi_header(tail, FCGI_STDOUT, c->reqid, 0);
	svc_fcgi_header(tail + FCGI_HDR, FCGI_END_REQUEST, c->reqid, 8);
	memset(tail + 2 * FCGI_HDR, 0, 8);
	while (left > 0) {
		chunk = left < FCGI_MAX_CONTENT ? left : FCGI_MAX_CONTENT;
		svc_fcgi_header(hdrs[k], FCGI_STDOUT, c->reqid, chunk);
		iov[n].iov_base = hdrs[k++];
		iov[n++].iov_len = FCGI_HDR;
		iov[n].iov_base = (void *)(uintptr_t)p;
		iov[n++].iov_len = chunk;
		p += chunk;
		left -= chunk;
		if (k == 32 && left > 0) {
			if (svc_fcgi_writev_all(c->fd, iov, n) == -1)
				goto out;
			n = k = 0;
		}
	}
	iov[n].iov_base = tail;
	iov[n++].iov_len = sizeof(tail);
	rc = svc_fcgi_writev_all(c->fd, iov, n);
out:
	c->active = 0;
	return rc;
}

int
svc_fcgi_pending(const struct svc_fcgi *c)
{
	return c->inlen > c->inpos;
}
