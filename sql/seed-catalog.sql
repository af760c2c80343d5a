-- seed-catalog.sql - 1,000 demo products with stable SKUs; applying it again changes nothing.
INSERT IGNORE INTO products (sku, name, description, price_cents, currency)
SELECT	CONCAT('SKU-', LPAD(seq, 5, '0')),
	CONCAT(ELT(1 + seq % 12, 'Red', 'Blue', 'Green', 'Black', 'White', 'Silver',
		'Golden', 'Tiny', 'Large', 'Vintage', 'Modern', 'Classic'), ' ',
	       ELT(1 + (seq DIV 12) % 10, 'Teapot', 'Lamp', 'Chair', 'Notebook', 'Backpack',
		'Mug', 'Clock', 'Kettle', 'Scarf', 'Umbrella'), ' ', seq),
	CONCAT('A dependable item from the shoplab demo catalogue, number ', seq, '.'),
	100 + (seq * 7919) % 99900,
	'EUR'
FROM seq_1_to_1000;
