/* test_inv_items.c - the inventory's item-list validation, ordering, comparison and JSON */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "inventory.h"

/* Parses text's "items" member; returns inv_items_parse's result. */
static int
parse(const char *text, struct inv_items *out, char *field, size_t fieldlen)
{
	json_object	*root = json_tokener_parse(text), *arr = NULL;
	char		 msg[128];
	int		 rc;

	assert_non_null(root);
	json_object_object_get_ex(root, "items", &arr);
	rc = inv_items_parse(arr, out, field, fieldlen, msg, sizeof(msg));
	if (rc == -1)
		assert_true(strlen(msg) > 0);
	json_object_put(root);
	return rc;
}

static void
test_parse_sorts(void **state)
{
	struct inv_items	items;
	char			field[48];

	(void)state;
	assert_int_equal(parse("{\"items\":[{\"product_id\":9,\"quantity\":2},"
	    "{\"product_id\":3,\"quantity\":1000},{\"product_id\":5,\"quantity\":1}]}",
	    &items, field, sizeof(field)), 0);
	assert_int_equal(items.n, 3);
	assert_int_equal(items.v[0].product_id, 3);
	assert_int_equal(items.v[0].quantity, 1000);
	assert_int_equal(items.v[1].product_id, 5);
	assert_int_equal(items.v[2].product_id, 9);
	assert_int_equal(items.v[2].quantity, 2);
}

static void
test_parse_rejects(void **state)
{
	static const struct {
		const char	*text;
		const char	*field;
	} bad[] = {
		{ "{}", "items" },
		{ "{\"items\":{}}", "items" },
		{ "{\"items\":[]}", "items" },
		{ "{\"items\":[1]}", "items[0]" },
		{ "{\"items\":[{\"product_id\":1}]}", "items[0].quantity" },
		{ "{\"items\":[{\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":1,\"quantity\":0}]}", "items[0].quantity" },
		{ "{\"items\":[{\"product_id\":1,\"quantity\":1001}]}", "items[0].quantity" },
		{ "{\"items\":[{\"product_id\":1,\"quantity\":-1}]}", "items[0].quantity" },
		{ "{\"items\":[{\"product_id\":1,\"quantity\":1.5}]}", "items[0].quantity" },
		{ "{\"items\":[{\"product_id\":1,\"quantity\":\"1\"}]}", "items[0].quantity" },
		{ "{\"items\":[{\"product_id\":0,\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":-4,\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":\"4\",\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":4.0,\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":99999999999999999999,\"quantity\":1}]}",
		  "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":null,\"quantity\":1}]}", "items[0].product_id" },
		{ "{\"items\":[{\"product_id\":2,\"quantity\":1},{\"product_id\":3,\"quantity\":true}]}",
		  "items[1].quantity" },
		{ "{\"items\":[{\"product_id\":2,\"quantity\":1},{\"product_id\":2,\"quantity\":3}]}",
		  "items" },
	};
	struct inv_items	items;
	char			field[48];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].text, &items, field, sizeof(field)) != -1)
			fail_msg("accepted %s", bad[i].text);
		assert_string_equal(field, bad[i].field);
		assert_int_equal(items.n, 0);
	}
}

/* 50 lines are fine, 51 are not; the same product twice anywhere in the list is refused. */
static void
test_parse_limits(void **state)
{
	struct inv_items	 items;
	json_object		*arr, *it;
	char			 field[48], msg[128];
	int			 i;

	(void)state;
	arr = json_object_new_array();
	assert_non_null(arr);
	for (i = 0; i < INV_ITEMS_MAX + 1; i++) {
		it = json_object_new_object();
		json_object_object_add(it, "product_id", json_object_new_int64(1000 - i));
		json_object_object_add(it, "quantity", json_object_new_int64(1));
		json_object_array_add(arr, it);
		if (i == INV_ITEMS_MAX - 1) {
			assert_int_equal(inv_items_parse(arr, &items, field, sizeof(field), msg,
			    sizeof(msg)), 0);
			assert_int_equal(items.n, INV_ITEMS_MAX);
			assert_int_equal(items.v[0].product_id, 1000 - (INV_ITEMS_MAX - 1));
		}
	}
	assert_int_equal(inv_items_parse(arr, &items, field, sizeof(field), msg, sizeof(msg)), -1);
	assert_string_equal(field, "items");
	json_object_array_del_idx(arr, 0, 1);
	it = json_object_new_object();
	json_object_object_add(it, "product_id", json_object_new_int64(1000 - 25));
	json_object_object_add(it, "quantity", json_object_new_int64(7));
	json_object_array_put_idx(arr, 0, it);
	assert_int_equal(json_object_array_length(arr), INV_ITEMS_MAX);
	assert_int_equal(inv_items_parse(arr, &items, field, sizeof(field), msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "975"));
	assert_int_equal(inv_items_parse(NULL, &items, field, sizeof(field), msg, sizeof(msg)), -1);
	json_object_put(arr);
}

static void
test_equal_and_json(void **state)
{
	struct inv_items	 a, b;
	json_object		*j;
	char			 field[48];

	(void)state;
	assert_int_equal(parse("{\"items\":[{\"product_id\":7,\"quantity\":2},"
	    "{\"product_id\":3,\"quantity\":1}]}", &a, field, sizeof(field)), 0);
	assert_int_equal(parse("{\"items\":[{\"product_id\":3,\"quantity\":1},"
	    "{\"product_id\":7,\"quantity\":2}]}", &b, field, sizeof(field)), 0);
	assert_true(inv_items_equal(&a, &b));
	b.v[1].quantity = 3;
	assert_false(inv_items_equal(&a, &b));
	b.v[1].quantity = 2;
	b.n = 1;
	assert_false(inv_items_equal(&a, &b));
	b.n = 0;
	a.n = 0;
	assert_true(inv_items_equal(&a, &b));

	assert_int_equal(parse("{\"items\":[{\"product_id\":7,\"quantity\":2},"
	    "{\"product_id\":3,\"quantity\":1}]}", &a, field, sizeof(field)), 0);
	j = inv_items_json(&a);
	assert_non_null(j);
	assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
	    "[{\"product_id\":3,\"quantity\":1},{\"product_id\":7,\"quantity\":2}]");
	json_object_put(j);
	a.n = 0;
	j = inv_items_json(&a);
	assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), "[]");
	json_object_put(j);
}

static void
test_sort(void **state)
{
	struct inv_items items = { .v = { { 5, 1 }, { INT64_MAX - 1, 2 }, { 1, 3 }, { 2, 4 } },
	    .n = 4 };

	(void)state;
	inv_items_sort(&items);
	assert_int_equal(items.v[0].product_id, 1);
	assert_int_equal(items.v[1].product_id, 2);
	assert_int_equal(items.v[2].product_id, 5);
	assert_true(items.v[3].product_id == INT64_MAX - 1);
	assert_int_equal(items.v[3].quantity, 2);
}

SVC_UNIT_MAIN("inventory",
    cmocka_unit_test(test_parse_sorts),
    cmocka_unit_test(test_parse_rejects),
    cmocka_unit_test(test_parse_limits),
    cmocka_unit_test(test_equal_and_json),
    cmocka_unit_test(test_sort))
