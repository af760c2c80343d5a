/* test_logbuf.c - a worker's request lines: held, then written whole when due or full */
#include <fcntl.h>
#include <unistd.h>

#include "svc_test.h"

/* What the read end of the pipe holds now (without waiting), as a string. */
static size_t
drain(int fd, char *out, size_t outlen)
{
	ssize_t n = read(fd, out, outlen - 1);

	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

struct pipe_lb {
	int			p[2];
	struct svc_logbuf	lb;
	char			got[256];
};

/* Hands the text line to the buffer at time now_us, to be held hold_us. */
static void
add(struct pipe_lb *t, const char *line, int64_t now_us, int64_t hold_us)
{
	svc_logbuf_add(&t->lb, line, strlen(line), now_us, hold_us);
}

/* What the buffer has written to the pipe since last asked (up to 255 bytes). */
static const char *
written(struct pipe_lb *t)
{
	drain(t->p[0], t->got, sizeof(t->got));
	return t->got;
}

static int
setup(void **state)
{
	static struct pipe_lb t;

	if (pipe(t.p) == -1 || fcntl(t.p[0], F_SETFL, O_NONBLOCK) == -1)
		return -1;
	svc_logbuf_init(&t.lb, t.p[1]);
	*state = &t;
	return 0;
}

static int
teardown(void **state)
{
	struct pipe_lb *t = *state;

	close(t->p[0]);
	close(t->p[1]);
	return 0;
}

static void
test_held_until_due(void **state)
{
	struct pipe_lb *t = *state;

	add(t, "a\n", 1000000, 200000);
	add(t, "b\n", 1100000, 200000);
	assert_string_equal(written(t), "");
	/* Due 200 ms after the oldest line, not the newest. */
	assert_int_equal(svc_logbuf_due_us(&t->lb, 1100000, 200000), 100000);
	assert_int_equal(svc_logbuf_due_us(&t->lb, 1300000, 200000), 0);
	add(t, "c\n", 1200000, 200000);
	assert_string_equal(written(t), "a\nb\nc\n");
	assert_int_equal(svc_logbuf_due_us(&t->lb, 1200000, 200000), -1);
}

static void
test_hold_zero_writes_at_once(void **state)
{
	struct pipe_lb *t = *state;

	add(t, "x\n", 5, 200000);
	add(t, "error\n", 6, 0);
	assert_string_equal(written(t), "x\nerror\n");
}

static void
test_full_buffer_flushes_whole_lines(void **state)
{
	struct pipe_lb	*t = *state;
	static char	 line[1000], got[SVC_LOGBUF_SIZE + 1];
	size_t		 i, n;

	memset(line, 'l', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < SVC_LOGBUF_SIZE / sizeof(line); i++)
		svc_logbuf_add(&t->lb, line, sizeof(line), 0, 1000000);
	assert_int_equal(drain(t->p[0], got, sizeof(got)), 0);
	/* The next line does not fit: what is held goes out first, whole lines only. */
	svc_logbuf_add(&t->lb, line, sizeof(line), 1, 1000000);
	n = drain(t->p[0], got, sizeof(got));
	assert_int_equal(n, (SVC_LOGBUF_SIZE / sizeof(line)) * sizeof(line));
	assert_int_equal(got[n - 1], '\n');
	svc_logbuf_flush(&t->lb);
	assert_int_equal(drain(t->p[0], got, sizeof(got)), sizeof(line));
}

static void
test_line_larger_than_buffer(void **state)
{
	struct pipe_lb	*t = *state;
	static char	 big[SVC_LOGBUF_SIZE + 10], got[2 * SVC_LOGBUF_SIZE];
	size_t		 n = 0, k;

	memset(big, 'B', sizeof(big));
	add(t, "first\n", 0, 1000000);
	svc_logbuf_add(&t->lb, big, sizeof(big), 0, 1000000);
	while ((k = drain(t->p[0], got + n, sizeof(got) - n)) > 0)
		n += k;
	assert_int_equal(n, 6 + sizeof(big));
	assert_memory_equal(got, "first\n", 6);
	assert_int_equal(svc_logbuf_due_us(&t->lb, 0, 1000000), -1);
}

SVC_UNIT_MAIN("logbuf",
    cmocka_unit_test_setup_teardown(test_held_until_due, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hold_zero_writes_at_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_full_buffer_flushes_whole_lines, setup,
	teardown),
    cmocka_unit_test_setup_teardown(test_line_larger_than_buffer, setup, teardown))
