/* catalog_model.c - the read model: product representations kept in memory, never stale here */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_model.h"

/*
 * An open-addressing table keyed by product id (ids are never deleted, so a slot, once
 * keyed, keeps its key; forgetting a product drops its body only). Readers share the lock;
 * a store or a forget takes it alone. What a reader gets is a copy, so no body outlives the
 * lock in anyone's hands.
 */
struct catalog_entry {
	int64_t	 id;		/* 0: free slot */
	int64_t	 loaded_us;	/* monotonic time the row was read from the database */
	char	*body;		/* NULL: known id, no current representation */
	size_t	 len;
	char	 etag[CATALOG_ETAG_MAX];
};

int
catalog_model_init(struct catalog_model *m, size_t max, int64_t ttl_us)
{
	pthread_rwlockattr_t	attr;
	size_t			n = 16;

	memset(m, 0, sizeof(*m));
	m->max = max;
	m->ttl_us = ttl_us;
	atomic_init(&m->gen, 0);
	atomic_init(&m->hits, 0);
	atomic_init(&m->misses, 0);
	if (max == 0 || ttl_us <= 0)
		return 0;	/* off: every read goes to the database */
	/* At most half full, so a probe stays short. */
	while (n < 2 * max) {
		if (n > SIZE_MAX / 4)
			return -1;
		n *= 2;
	}
	if ((m->slots = calloc(n, sizeof(*m->slots))) == NULL)
		return -1;
	m->nslots = n;
	/*
	 * Writers first: glibc's default lets a steady stream of readers keep a store (a
	 * miss being filled, a forget after a write) waiting indefinitely.
	 */
	if ((errno = pthread_rwlockattr_init(&attr)) != 0)
		goto fail;
	if ((errno = pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)) != 0 ||
	    (errno = pthread_rwlock_init(&m->lock, &attr)) != 0) {
		pthread_rwlockattr_destroy(&attr);
		goto fail;
	}
	pthread_rwlockattr_destroy(&attr);
	return 0;
fail:
	free(m->slots);
	m->slots = NULL;
	return -1;
}

void
catalog_model_free(struct catalog_model *m)
{
	size_t i;

	if (m->slots == NULL)
		return;
	for (i = 0; i < m->nslots; i++)
		free(m->slots[i].body);
	free(m->slots);
	m->slots = NULL;
	pthread_rwlock_destroy(&m->lock);
}

int
catalog_model_on(const struct catalog_model *m)
{
	return m->slots != NULL;
}

/* The slot holding id, or the free slot where it would go; NULL when the table is full. */
static struct catalog_entry *
catalog_model_slot(const struct catalog_model *m, int64_t id)
{
	size_t i, mask = m->nslots - 1, n;

	i = ((uint64_t)id * 0x9E3779B97F4A7C15ULL) >> 16 & mask;
	for (n = 0; n < m->nslots; n++, i = (i + 1) & mask) {
		if (m->slots[i].id == id || m->slots[i].id == 0)
			return &m->slots[i];
	}
	return NULL;
}

uint64_t
catalog_model_gen(struct catalog_model *m)
{
	return atomic_load(&m->gen);
}

int
catalog_model_get(struct catalog_model *m, int64_t id, int64_t now_us, struct svc_buf *body,
    char etag[CATALOG_ETAG_MAX])
{
	struct catalog_entry	*e;
	int			 rc = 0;

	if (m->slots == NULL || id <= 0)
		return 0;
	if (pthread_rwlock_rdlock(&m->lock) != 0)
		return 0;	/* no model this time: the database answers */
	e = catalog_model_slot(m, id);
	if (e != NULL && e->id == id && e->body != NULL && now_us >= e->loaded_us &&
	    now_us - e->loaded_us < m->ttl_us) {
		rc = svc_buf_append(body, e->body, e->len) == -1 ? -1 : 1;
		memcpy(etag, e->etag, CATALOG_ETAG_MAX);
	}
	pthread_rwlock_unlock(&m->lock);
	if (rc == 1)
		atomic_fetch_add(&m->hits, 1);
	else if (rc == 0)
		atomic_fetch_add(&m->misses, 1);
	return rc;
}

int
catalog_model_put(struct catalog_model *m, int64_t id, uint64_t gen, int64_t now_us,
    const char *body, size_t len, const char *etag)
{
	struct catalog_entry	*e;
	char			*copy;
	int			 rc = 0;

	if (m->slots == NULL || id <= 0 || strlen(etag) >= CATALOG_ETAG_MAX)
		return 0;
	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, body, len);
	copy[len] = '\0';
	if (pthread_rwlock_wrlock(&m->lock) != 0) {
		free(copy);
		return 0;
	}
	/*
	 * A write committed since this row was read (the generation moved): the row may be
	 * older than the write, so it is not kept. The next read fetches it again.
	 */
	if (atomic_load(&m->gen) != gen)
		goto out;
	if ((e = catalog_model_slot(m, id)) == NULL)
		goto out;
	if (e->id == 0) {
		if (m->used >= m->max)
			goto out;	/* full: this product is read from the database */
		e->id = id;
		m->used++;
	}
	free(e->body);
	e->body = copy;
	copy = NULL;
	e->len = len;
	e->loaded_us = now_us;
	memcpy(e->etag, etag, strlen(etag) + 1);
	rc = 1;
out:
	pthread_rwlock_unlock(&m->lock);
	free(copy);
	return rc;
}

void
catalog_model_forget(struct catalog_model *m, int64_t id)
{
	struct catalog_entry *e;

	if (m->slots == NULL)
		return;
	/*
	 * The generation moves first and under the lock, so a reader that took the old
	 * generation before this write's commit can no longer store what it read.
	 */
	if (pthread_rwlock_wrlock(&m->lock) != 0) {
		atomic_fetch_add(&m->gen, 1);
		return;	/* cannot happen with a default rwlock; the store check still holds */
	}
	atomic_fetch_add(&m->gen, 1);
	if ((e = catalog_model_slot(m, id)) != NULL && e->id == id) {
		free(e->body);
		e->body = NULL;
		e->len = 0;
	}
	pthread_rwlock_unlock(&m->lock);
}

size_t
catalog_model_size(struct catalog_model *m)
{
	size_t n;

	if (m->slots == NULL || pthread_rwlock_rdlock(&m->lock) != 0)
		return 0;
	n = m->used;
	pthread_rwlock_unlock(&m->lock);
	return n;
}
