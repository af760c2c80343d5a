/* b64url_test.h - base64url without padding, written apart from the service's, for forging tokens */
#ifndef B64URL_TEST_H
#define B64URL_TEST_H

#include <stddef.h>

/* out gets the base64url of in[0..n) and a NUL: it must hold 4 * ((n + 2) / 3) + 1 bytes. */
static inline void
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		if (left > 1)
			out[o++] = tab[v >> 6 & 63];
		if (left > 2)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

#endif /* B64URL_TEST_H */
