/* svc_card.h - the card rules, one definition for the service that takes a card and the one that charges it */
#ifndef SVC_CARD_H
#define SVC_CARD_H

/*
 * Opt-in: svc.h does not include this. payments owns these rules (it is the card processor);
 * orders applies the very same code where the card enters, before any stock is held, so the
 * two can never disagree about what a valid card is. Pure functions, no I/O.
 */
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define SVC_CARD_DIGITS_MIN	13		/* digits of a card number */
#define SVC_CARD_DIGITS_MAX	19
#define SVC_CARD_NUMBER_IN_MAX	64		/* bytes of a number as sent, spaces included */
#define SVC_CARD_YEAR_MIN	2000
#define SVC_CARD_YEAR_MAX	2100
/* The amount one charge may have, in cents: 1 to this. */
#define SVC_CARD_AMOUNT_MAX	100000000000LL

/* A card that passed svc_card_check. */
struct svc_card {
	char	digits[SVC_CARD_DIGITS_MAX + 1];	/* the number without spaces */
	char	cvc[5];
	int	exp_month;				/* 1..12 */
	int	exp_year;				/* SVC_CARD_YEAR_MIN..MAX */
};

/*
 * Checks a card object: exactly the members number, exp_month, exp_year and cvc (no others);
 * number a string of 13..19 digits (spaces allowed, 64 bytes at most) that passes Luhn;
 * exp_month 1..12 and exp_year 2000..2100 integers; cvc 3 or 4 digits. Expiry is not
 * checked here (svc_card_expired). Returns 0 with *out filled, or -1 with the offending
 * field ("card.number", ...) and a message for the client; out is wiped on failure.
 */
int svc_card_check(json_object *card, struct svc_card *out, char *field, size_t fieldlen,
	char *msg, size_t msglen);

/* Copies the digits of in into out with spaces removed; -1 on any other character, on a
 * length outside 13..19 digits, or when out is too small. */
int svc_card_normalize(const char *in, char *out, size_t outlen);
/* 1 when the string of digits passes the Luhn check, 0 when not (or it is empty). */
int svc_card_luhn_ok(const char *digits);
/* 1 when cvc is 3 or 4 ASCII digits. */
int svc_card_cvc_ok(const char *cvc);
/* 1 when a card good through the end of exp_month/exp_year has expired in now_month/now_year. */
int svc_card_expired(int exp_month, int exp_year, int now_month, int now_year);
/* The UTC calendar month (1..12) and year of Unix time t. */
void svc_card_month_of(int64_t t, int *month, int *year);
/* Wipes a card from memory (explicit_bzero). */
void svc_card_wipe(struct svc_card *c);

#endif /* SVC_CARD_H */
