/* test_fcgi.c - the runtime's FastCGI codec against records written by hand on a socketpair */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "svc_test.h"

struct wire {
	int			sv[2];		/* [0] the service's end, [1] the web server's */
	struct svc_fcgi		c;
	unsigned char		buf[300000];	/* records to send */
	size_t			len;
};

static int
setup(void **state)
{
	struct wire *w = calloc(1, sizeof(*w));

	if (w == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, w->sv) == -1)
		return -1;
	svc_fcgi_init(&w->c);
	svc_fcgi_attach(&w->c, w->sv[0]);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct wire *w = *state;

	svc_fcgi_free(&w->c);
	close(w->sv[0]);
	close(w->sv[1]);
	free(w);
	return 0;
}

static void
rec(struct wire *w, int type, unsigned id, const void *data, size_t len, unsigned pad)
{
	unsigned char *h = w->buf + w->len;

	assert_true(w->len + 8 + len + pad <= sizeof(w->buf));
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = (unsigned char)pad;
	h[7] = 0;
	if (len > 0)
		memcpy(h + 8, data, len);
	memset(h + 8 + len, 0xee, pad);
	w->len += 8 + len + pad;
}

static void
begin(struct wire *w, unsigned id, unsigned role, int keep)
{
	unsigned char b[8] = { (unsigned char)(role >> 8), (unsigned char)role,
	    (unsigned char)(keep ? 1 : 0), 0, 0, 0, 0, 0 };

	rec(w, 1, id, b, sizeof(b), 0);
}

/* A name-value pair as FastCGI encodes it: 1-byte lengths below 128, 4 bytes above. */
static size_t
pair(unsigned char *out, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), o = 0, k, l;

	for (k = 0; k < 2; k++) {
		l = k == 0 ? nl : vl;
		if (l < 128)
			out[o++] = (unsigned char)l;
		else {
			out[o++] = (unsigned char)(0x80 | l >> 24);
			out[o++] = (unsigned char)(l >> 16);
			out[o++] = (unsigned char)(l >> 8);
			out[o++] = (unsigned char)l;
		}
	}
	memcpy(out + o, name, nl);
	memcpy(out + o + nl, value, vl);
	return o + nl + vl;
}

static void
send_all(struct wire *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->len) {
		n = write(w->sv[1], w->buf + off, w->len - off);
		assert_true(n > 0);
		off += (size_t)n;
	}
	w->len = 0;
}

/* Reads the web server's end until FCGI_END_REQUEST; stdout content into out. */
static int
read_answer(struct wire *w, unsigned *id, char *out, size_t outlen, size_t *outn,
    int *nstdout)
{
	unsigned char	h[8], body[70000];
	size_t		clen, got;
	ssize_t		n;

	*outn = 0;
	*nstdout = 0;
	for (;;) {
		for (got = 0; got < 8; got += (size_t)n)
			if ((n = read(w->sv[1], h + got, 8 - got)) <= 0)
				return -1;
		clen = (size_t)h[4] << 8 | h[5];
		for (got = 0; got < clen + h[6]; got += (size_t)n)
			if ((n = read(w->sv[1], body + got, clen + h[6] - got)) <= 0)
				return -1;
		*id = (unsigned)h[2] << 8 | h[3];
		if (h[1] == 3)
			return body[4];		/* the protocol status */
		if (h[1] != 6)
			return -2;
		(*nstdout)++;
		if (*outn + clen <= outlen) {
			memcpy(out + *outn, body, clen);
			*outn += clen;
		}
	}
}

static void
test_request_split_across_records(void **state)
{
	struct wire	*w = *state;
	unsigned char	 p[512];
	char		 out[256];
	size_t		 n, outn;
	unsigned	 id;
	int		 nout;

	begin(w, 7, 1, 1);
	n = pair(p, "REQUEST_METHOD", "POST");
	n += pair(p + n, "SHOPLAB_PATH", "/api/v1/things");
	n += pair(p + n, "EMPTY", "");
	/* The stream is cut in the middle of a pair, and padded. */
	rec(w, 4, 7, p, 5, 3);
	rec(w, 4, 7, p + 5, n - 5, 0);
	rec(w, 4, 7, NULL, 0, 0);
	rec(w, 5, 7, "{\"a\":", 5, 0);
	rec(w, 5, 7, "1}", 2, 6);
	rec(w, 5, 7, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 65536), 1);
	assert_string_equal(svc_fcgi_param(&w->c, "REQUEST_METHOD"), "POST");
	assert_string_equal(svc_fcgi_param(&w->c, "SHOPLAB_PATH"), "/api/v1/things");
	assert_string_equal(svc_fcgi_param(&w->c, "EMPTY"), "");
	assert_null(svc_fcgi_param(&w->c, "REQUEST"));
	assert_null(svc_fcgi_param(&w->c, "REQUEST_METHODX"));
	assert_int_equal(w->c.body.len, 7);
	assert_memory_equal(w->c.body.data, "{\"a\":1}", 7);
	assert_true(w->c.keep);
	assert_int_equal(svc_fcgi_stdout(&w->c, "Status: 200 OK\r\n\r\nok", 20), 0);
	assert_int_equal(svc_fcgi_finish(&w->c), 0);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 0);
	assert_int_equal(id, 7);
	/* One stdout record with the content, then the empty one. */
	assert_int_equal(nout, 2);
	assert_int_equal(outn, 20);
	assert_memory_equal(out, "Status: 200 OK\r\n\r\nok", 20);
	/* Kept: the next request on the same connection, then a clean end. */
	begin(w, 8, 1, 0);
	n = pair(p, "A", "b");
	rec(w, 4, 8, p, n, 0);
	rec(w, 4, 8, NULL, 0, 0);
	rec(w, 5, 8, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 65536), 1);
	assert_false(w->c.keep);
	assert_null(svc_fcgi_param(&w->c, "REQUEST_METHOD"));
	assert_string_equal(svc_fcgi_param(&w->c, "A"), "b");
	assert_int_equal(w->c.body.len, 0);
	assert_int_equal(svc_fcgi_finish(&w->c), 0);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 0);
	assert_int_equal(outn, 0);
	shutdown(w->sv[1], SHUT_WR);
	assert_int_equal(svc_fcgi_read_request(&w->c, 65536), 0);
}

static void
test_long_lengths_and_big_answer(void **state)
{
	struct wire	*w = *state;
	static char	 big[140001], out[140001];
	unsigned char	*p = malloc(300 + sizeof(big));
	size_t		 n, outn;
	unsigned	 id;
	int		 nout;

	assert_non_null(p);
	memset(big, 'v', sizeof(big) - 1);
	big[300] = '\0';
	begin(w, 1, 1, 1);
	n = pair(p, "HTTP_COOKIE", big);	/* a 4-byte value length */
	rec(w, 4, 1, p, n, 0);
	rec(w, 4, 1, NULL, 0, 0);
	rec(w, 5, 1, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 65536), 1);
	assert_int_equal(strlen(svc_fcgi_param(&w->c, "HTTP_COOKIE")), 300);
	/* An answer over 65535 bytes goes out in several stdout records, whole. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(svc_fcgi_stdout(&w->c, big, sizeof(big) - 1), 0);
	assert_int_equal(svc_fcgi_finish(&w->c), 0);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 0);
	assert_int_equal(outn, sizeof(big) - 1);
	assert_int_equal(nout, 4);	/* 65535, 65535, 8930, and the empty one */
	assert_memory_equal(out, big, outn);
	free(p);
}

static void
test_body_over_the_limit_is_counted_not_kept(void **state)
{
	struct wire	*w = *state;
	char		 body[1000];

	memset(body, 'b', sizeof(body));
	begin(w, 1, 1, 1);
	rec(w, 4, 1, NULL, 0, 0);
	rec(w, 5, 1, body, sizeof(body), 0);
	rec(w, 5, 1, body, sizeof(body), 0);
	rec(w, 5, 1, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 1500), 1);
	assert_int_equal(w->c.body.len, 1500);
	assert_int_equal(w->c.body_total, 2000);
}

static void
test_management_and_refusals(void **state)
{
	struct wire	*w = *state;
	unsigned char	 p[64], h[8], res[64];
	char		 out[64];
	size_t		 n, outn;
	unsigned	 id;
	int		 nout;

	/* FCGI_GET_VALUES: the one value known is FCGI_MPXS_CONNS, and it is 0. */
	n = pair(p, "FCGI_MPXS_CONNS", "");
	n += pair(p + n, "FCGI_MAX_CONNS", "");
	rec(w, 9, 0, p, n, 0);
	/* A role other than the responder is refused for that request alone. */
	begin(w, 3, 2, 1);
	/* A record type nobody knows on the management id. */
	rec(w, 77, 0, NULL, 0, 0);
	send_all(w);
	begin(w, 4, 1, 1);
	rec(w, 4, 4, NULL, 0, 0);
	/* A second request while the first is open: refused, the first goes on. */
	begin(w, 5, 1, 1);
	rec(w, 5, 4, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 100), 1);
	assert_int_equal(w->c.reqid, 4);
	assert_int_equal(read(w->sv[1], h, 8), 8);
	assert_int_equal(h[1], 10);		/* FCGI_GET_VALUES_RESULT */
	assert_int_equal(read(w->sv[1], res, h[5]), h[5]);
	assert_int_equal(h[5], 2 + 15 + 1);
	assert_memory_equal(res + 2, "FCGI_MPXS_CONNS0", 16);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 3);
	assert_int_equal(id, 3);		/* FCGI_UNKNOWN_ROLE */
	assert_int_equal(read(w->sv[1], h, 8), 8);
	assert_int_equal(h[1], 11);		/* FCGI_UNKNOWN_TYPE */
	assert_int_equal(read(w->sv[1], res, 8), 8);
	assert_int_equal(res[0], 77);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 1);
	assert_int_equal(id, 5);		/* FCGI_CANT_MPX_CONN */
	assert_int_equal(svc_fcgi_finish(&w->c), 0);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 0);
	assert_int_equal(id, 4);
}

static void
test_abort_before_the_body_ends(void **state)
{
	struct wire	*w = *state;
	char		 out[64];
	size_t		 outn;
	unsigned	 id;
	int		 nout;

	begin(w, 2, 1, 1);
	rec(w, 4, 2, NULL, 0, 0);
	rec(w, 5, 2, "par", 3, 0);
	rec(w, 2, 2, NULL, 0, 0);
	begin(w, 3, 1, 1);
	rec(w, 4, 3, NULL, 0, 0);
	rec(w, 5, 3, NULL, 0, 0);
	send_all(w);
	/* The aborted request is ended without reaching a handler; the next one is served. */
	assert_int_equal(svc_fcgi_read_request(&w->c, 100), 1);
	assert_int_equal(w->c.reqid, 3);
	assert_int_equal(w->c.body.len, 0);
	assert_int_equal(read_answer(w, &id, out, sizeof(out), &outn, &nout), 0);
	assert_int_equal(id, 2);
}

static void
test_broken_input_is_an_error(void **state)
{
	struct wire	*w = *state;
	unsigned char	 bad[2] = { 5, 3 };	/* a name of 5 bytes and a value of 3: none follow */
	struct wire	*w2;

	/* A pair longer than the stream. */
	begin(w, 1, 1, 1);
	rec(w, 4, 1, bad, sizeof(bad), 0);
	rec(w, 4, 1, NULL, 0, 0);
	send_all(w);
	assert_int_equal(svc_fcgi_read_request(&w->c, 100), -1);
	/* A version other than 1. */
	assert_int_equal(setup((void **)&w2), 0);
	rec(w2, 1, 1, "\0\1\0\0\0\0\0\0", 8, 0);
	w2->buf[0] = 2;
	send_all(w2);
	assert_int_equal(svc_fcgi_read_request(&w2->c, 100), -1);
	teardown((void **)&w2);
	/* The peer goes away in the middle of a request. */
	assert_int_equal(setup((void **)&w2), 0);
	begin(w2, 1, 1, 1);
	rec(w2, 4, 1, NULL, 0, 0);
	send_all(w2);
	shutdown(w2->sv[1], SHUT_WR);
	assert_int_equal(svc_fcgi_read_request(&w2->c, 100), -1);
	teardown((void **)&w2);
	/* Stdin before the params ended. */
	assert_int_equal(setup((void **)&w2), 0);
	begin(w2, 1, 1, 1);
	rec(w2, 5, 1, NULL, 0, 0);
	send_all(w2);
	assert_int_equal(svc_fcgi_read_request(&w2->c, 100), -1);
	teardown((void **)&w2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_split_across_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lengths_and_big_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_over_the_limit_is_counted_not_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_management_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_before_the_body_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_input_is_an_error, setup, teardown),
	};

	return cmocka_run_group_tests_name("fcgi", tests, NULL, NULL);
}
