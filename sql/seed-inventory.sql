-- seed-inventory.sql - 100 units of each of the catalog's 1,000 products; applying it again changes nothing.
-- A product gets its 'seed' adjustment and its stock row only while it has neither, so a
-- product an admin or the saga has touched keeps its numbers and its ledger.
START TRANSACTION;
INSERT INTO adjustments (product_id, delta, reason, actor)
SELECT	seq, 100, 'seed', NULL
FROM	seq_1_to_1000
WHERE	NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = seq)
	AND NOT EXISTS (SELECT 1 FROM adjustments a WHERE a.product_id = seq);
INSERT IGNORE INTO stock (product_id, available, held, sold)
SELECT	seq, 100, 0, 0
FROM	seq_1_to_1000
WHERE	NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = seq)
	AND EXISTS (SELECT 1 FROM adjustments a WHERE a.product_id = seq AND a.reason = 'seed');
COMMIT;
