/* catalog_model.h - catalog's read model: products as GET shows them, kept in memory */
#ifndef CATALOG_MODEL_H
#define CATALOG_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "svc.h"

struct catalog_entry;

#define CATALOG_ETAG_MAX	24	/* "\"" + 20 hex + "\"" + NUL, with room */

/*
 * Catalog owns every write to its products, so it can serve its public reads from memory.
 * Within one process the model is never stale: a write forgets the product once it has
 * committed (and moves a generation counter, so a read that began before the commit cannot
 * store what it read). Another catalog instance's write reaches this one only through the
 * database, so an entry is also refreshed from the database once it is ttl old: with
 * several instances a public read may be up to ttl old, as the gateway's micro-cache already
 * allows. Checkout's price lookups (the internal route) never read the model.
 *
 * Times are monotonic microseconds passed in by the caller, so the tests set the clock.
 */
struct catalog_model {
	pthread_rwlock_t	 lock;
	struct catalog_entry	*slots;		/* NULL: the model is off */
	size_t			 nslots;	/* a power of two, at least 2 * max */
	size_t			 used;		/* keyed slots */
	size_t			 max;		/* products kept at most */
	int64_t			 ttl_us;
	atomic_uint_fast64_t	 gen;		/* moved by every forget */
	atomic_uint_fast64_t	 hits, misses;
};

/* max 0 or ttl_us 0 turns the model off (every call then misses). -1 if out of memory. */
int	 catalog_model_init(struct catalog_model *m, size_t max, int64_t ttl_us);
void	 catalog_model_free(struct catalog_model *m);
int	 catalog_model_on(const struct catalog_model *m);
/* Taken before a database read whose row may be stored (catalog_model_put). */
uint64_t catalog_model_gen(struct catalog_model *m);
/* 1: a current representation of id appended to body, its ETag in etag; 0: not kept; -1: ENOMEM. */
int	 catalog_model_get(struct catalog_model *m, int64_t id, int64_t now_us,
	    struct svc_buf *body, char etag[CATALOG_ETAG_MAX]);
/* Keeps what a database read returned, unless a write was forgotten since gen: 1 kept, 0 not, -1. */
int	 catalog_model_put(struct catalog_model *m, int64_t id, uint64_t gen, int64_t now_us,
	    const char *body, size_t len, const char *etag);
/* After a write to id (committed, or whose commit is unknown): the model no longer serves it. */
void	 catalog_model_forget(struct catalog_model *m, int64_t id);
size_t	 catalog_model_size(struct catalog_model *m);

#endif /* CATALOG_MODEL_H */
