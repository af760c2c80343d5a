/* svc_buf.c - growable NUL-terminated byte buffers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"
#include "svc_util_int.h"

void
svc_buf_init(struct svc_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
svc_buf_free(struct svc_buf *b)
{
	free(b->data);
	svc_buf_init(b);
}

void
svc_buf_reset(struct svc_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static int
svc_buf_reserve(struct svc_buf *b, size_t extra)
{
	size_t	 need, ncap;
	char	*p;

	if (extra > SIZE_MAX / 2 - b->len)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		goto fail;
	b->data = p;
	b->cap = ncap;
	return 0;
fail:
	b->failed = 1;
	return -1;
}

int
svc_buf_append(struct svc_buf *b, const void *p, size_t n)
{
	if (svc_buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
svc_buf_puts(struct svc_buf *b, const char *s)
{
	return svc_buf_append(b, s, strlen(s));
}

int
svc_buf_printf(struct svc_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || svc_buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}
