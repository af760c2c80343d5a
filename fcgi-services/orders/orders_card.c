/* orders_card.c - the card kept sealed (AES-256-GCM) until its charge has a definite answer */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "orders.h"

#define ORDERS_IV_LEN	12
#define ORDERS_TAG_LEN	16

/* out = iv || tag || ciphertext. */
int
orders_card_seal(const unsigned char key[32], const char *aad, const char *plain,
    unsigned char *out, size_t outlen, size_t *len)
{
	EVP_CIPHER_CTX	*ctx;
	size_t		 plen = strlen(plain);
	int		 n, fin, rc = -1;

	if (outlen < ORDERS_IV_LEN + ORDERS_TAG_LEN + plen)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (RAND_bytes(out, ORDERS_IV_LEN) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, out + ORDERS_IV_LEN + ORDERS_TAG_LEN, &n,
	    (const unsigned char *)plain, (int)plen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + ORDERS_IV_LEN + ORDERS_TAG_LEN + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ORDERS_TAG_LEN,
	    out + ORDERS_IV_LEN) != 1)
		goto out;
	*len = ORDERS_IV_LEN + ORDERS_TAG_LEN + (size_t)n + (size_t)fin;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
orders_card_open(const unsigned char key[32], const char *aad, const unsigned char *in,
    size_t len, char *out, size_t outlen)
{
	EVP_CIPHER_CTX	*ctx;
	size_t		 clen;
	int		 n, fin, rc = -1;

	if (len < ORDERS_IV_LEN + ORDERS_TAG_LEN)
		return -1;
	clen = len - ORDERS_IV_LEN - ORDERS_TAG_LEN;
	if (clen + 1 > outlen)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, in + ORDERS_IV_LEN + ORDERS_TAG_LEN,
	    (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ORDERS_TAG_LEN,
	    (void *)(uintptr_t)(in + ORDERS_IV_LEN)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &fin) != 1)
		goto out;
	out[n + fin] = '\0';
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc != 0)
		explicit_bzero(out, outlen);
	return rc;
}
