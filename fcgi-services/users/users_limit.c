/* users_limit.c - failed logins per account: a sliding window per email, in memory */
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "users.h"

#define USERS_LIMIT_SLOTS	4096	/* accounts tracked at once */
#define USERS_LIMIT_PROBES	4	/* slots an email may live in */

/*
 * An email is known here only by a keyed hash (the key is random per process), so the
 * table holds no addresses and no one can aim collisions at a victim's slot.
 */
static uint64_t
users_limit_key(const struct users_limiter *l, const char *email)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0;
	uint64_t	 k = 0;

	if (HMAC(EVP_sha256(), l->key, (int)sizeof(l->key), (const unsigned char *)email,
	    strlen(email), mac, &len) == NULL || len < sizeof(k))
		return 1;
	memcpy(&k, mac, sizeof(k));
	return k == 0 ? 1 : k;	/* 0 marks a free slot */
}

int
users_limit_init(struct users_limiter *l, long long failures, long long window_s)
{
	memset(l, 0, sizeof(*l));
	if (failures < 1 || failures > USERS_LIMIT_MAX || window_s < 1)
		return -1;
	l->failures = (unsigned)failures;
	l->window_us = window_s * 1000000;
	if (getrandom(l->key, sizeof(l->key), 0) != (ssize_t)sizeof(l->key))
		return -1;
	if ((l->slots = calloc(USERS_LIMIT_SLOTS, sizeof(*l->slots))) == NULL)
		return -1;
	if (pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l->slots);
		l->slots = NULL;
		return -1;
	}
	return 0;
}

void
users_limit_free(struct users_limiter *l)
{
	if (l->slots == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->slots);
	l->slots = NULL;
}

/* The newest failure a slot remembers, or 0. */
static int64_t
users_limit_newest(const struct users_limiter *l, const struct users_limit_slot *s)
{
	return s->n == 0 ? 0 : s->t[(s->head + l->failures - 1) % l->failures];
}

/*
 * The slot of key: its own, or (create) a free or expired one, else the one whose newest
 * failure is oldest. Evicting forgets some failures: under a flood of distinct emails the
 * limit fails open, never towards locking someone out. Called with the lock held.
 */
static struct users_limit_slot *
users_limit_slot(struct users_limiter *l, uint64_t key, int64_t now, int create)
{
	struct users_limit_slot	*s, *victim = NULL;
	size_t			 i, at = (size_t)(key % USERS_LIMIT_SLOTS);

	for (i = 0; i < USERS_LIMIT_PROBES; i++) {
		s = &l->slots[(at + i) % USERS_LIMIT_SLOTS];
		if (s->key == key)
			return s;
	}
	if (!create)
		return NULL;
	for (i = 0; i < USERS_LIMIT_PROBES; i++) {
		s = &l->slots[(at + i) % USERS_LIMIT_SLOTS];
		if (s->key == 0 || users_limit_newest(l, s) <= now - l->window_us) {
			victim = s;
			break;
		}
		if (victim == NULL || users_limit_newest(l, s) < users_limit_newest(l, victim))
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	victim->key = key;
	return victim;
}

long long
users_limit_check(struct users_limiter *l, const char *email, int64_t now)
{
	struct users_limit_slot	*s;
	uint64_t		 key = users_limit_key(l, email);
	long long		 wait = 0;
	int64_t			 oldest;

	pthread_mutex_lock(&l->lock);
	if ((s = users_limit_slot(l, key, now, 0)) != NULL && s->n == l->failures) {
		/* The ring holds the last `failures` failures: limited while all are recent. */
		oldest = s->t[s->head];
		if (oldest > now - l->window_us)
			wait = (long long)((oldest + l->window_us - now + 999999) / 1000000);
	}
	pthread_mutex_unlock(&l->lock);
	return wait;
}

void
users_limit_fail(struct users_limiter *l, const char *email, int64_t now)
{
	struct users_limit_slot	*s;
	uint64_t		 key = users_limit_key(l, email);

	pthread_mutex_lock(&l->lock);
	s = users_limit_slot(l, key, now, 1);
	if (s->n < l->failures) {
		s->t[(s->head + s->n) % l->failures] = now;
		s->n++;
	} else {
		s->t[s->head] = now;
		s->head = (s->head + 1) % l->failures;
	}
	pthread_mutex_unlock(&l->lock);
}

void
users_limit_clear(struct users_limiter *l, const char *email)
{
	struct users_limit_slot	*s;
	uint64_t		 key = users_limit_key(l, email);

	pthread_mutex_lock(&l->lock);
	if ((s = users_limit_slot(l, key, 0, 0)) != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&l->lock);
}
