/* inv_items.c - a reservation's item list: validation, canonical order, comparison, JSON */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "inventory.h"

static int
inv_item_cmp(const void *a, const void *b)
{
	const struct inv_item *x = a, *y = b;

	return (x->product_id > y->product_id) - (x->product_id < y->product_id);
}

void
inv_items_sort(struct inv_items *items)
{
	qsort(items->v, items->n, sizeof(items->v[0]), inv_item_cmp);
}

/* Reads member name of obj as an integer in min..max; -1 when absent or otherwise. */
static int
inv_int_member(json_object *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
	json_object	*v;
	int64_t		 n;

	if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	/* json-c saturates numbers out of range: the edges count as out of range. */
	if (n == INT64_MAX || n == INT64_MIN || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
inv_items_parse(json_object *arr, struct inv_items *out, char *field, size_t fieldlen,
    char *msg, size_t msglen)
{
	json_object	*it;
	size_t		 i, n;

	out->n = 0;
	snprintf(field, fieldlen, "items");
	msg[0] = '\0';
	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		snprintf(msg, msglen, "items must be an array");
		return -1;
	}
	n = json_object_array_length(arr);
	if (n < 1 || n > INV_ITEMS_MAX) {
		snprintf(msg, msglen, "items must hold 1 to %d lines", INV_ITEMS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(arr, i);
		if (it == NULL || !json_object_is_type(it, json_type_object)) {
			snprintf(field, fieldlen, "items[%zu]", i);
			snprintf(msg, msglen, "each item must be an object");
			return -1;
		}
		if (inv_int_member(it, "product_id", 1, INT64_MAX - 1, &out->v[i].product_id)) {
			snprintf(field, fieldlen, "items[%zu].product_id", i);
			snprintf(msg, msglen, "product_id must be a positive integer");
			return -1;
		}
		if (inv_int_member(it, "quantity", 1, INV_QUANTITY_MAX, &out->v[i].quantity)) {
			snprintf(field, fieldlen, "items[%zu].quantity", i);
			snprintf(msg, msglen, "quantity must be an integer between 1 and %d",
			    INV_QUANTITY_MAX);
			return -1;
		}
	}
	out->n = n;
	inv_items_sort(out);
	for (i = 1; i < n; i++)
		if (out->v[i].product_id == out->v[i - 1].product_id) {
			snprintf(msg, msglen, "product %lld is listed more than once",
			    (long long)out->v[i].product_id);
			out->n = 0;
			return -1;
		}
	return 0;
}

int
inv_items_equal(const struct inv_items *a, const struct inv_items *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->v[i].product_id != b->v[i].product_id ||
		    a->v[i].quantity != b->v[i].quantity)
			return 0;
	return 1;
}

json_object *
inv_items_json(const struct inv_items *items)
{
	json_object	*arr, *it;
	size_t		 i;
	int		 bad = 0;

	arr = json_object_new_array();
	for (i = 0; i < items->n; i++) {
		it = json_object_new_object();
		bad |= svc_json_add(it, "product_id", json_object_new_int64(items->v[i].product_id));
		bad |= svc_json_add(it, "quantity", json_object_new_int64(items->v[i].quantity));
		bad |= svc_json_push(arr, it);
	}
	return svc_json_checked(arr, bad);
}
