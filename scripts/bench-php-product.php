<?php
// bench-php-product.php - PHP-FPM's side of scripts/bench-php.sh: what catalog's
// GET /api/v1/products/{id} does (one prepared select, the row as JSON with its ETag, 404).
// The pool's env[] gives DB_HOST, DB_PORT, DB_USER and DB_PASSWORD (catalog's DB user).
header('Content-Type: application/json');
function fail(int $status, string $code, string $msg) {
	http_response_code($status);
	exit(json_encode(['error' => ['code' => $code, 'message' => $msg, 'request_id' => $_SERVER['REQUEST_ID'] ?? '']]));
}
if (!preg_match('#^/api/v1/products/([1-9][0-9]{0,17})$#', $_SERVER['DOCUMENT_URI'] ?? '', $m))
	fail(404, 'not_found', 'no product with that id');
$id = (int)$m[1];
try {	// p: a persistent connection, kept by the FPM child from one request to the next
	$db = new mysqli('p:' . getenv('DB_HOST'), getenv('DB_USER'), getenv('DB_PASSWORD'), 'catalog', (int)getenv('DB_PORT'));
	$st = $db->prepare('SELECT id, sku, name, description, price_cents, currency FROM products WHERE id = ?');
	$st->bind_param('i', $id);
	$st->execute();
	$row = $st->get_result()->fetch_assoc();
	$st->close();
} catch (mysqli_sql_exception $e) {
	error_log('bench-php-product.php: ' . $e->getMessage());
	fail(503, 'unavailable', 'the database is not available');
}
if ($row === null)
	fail(404, 'not_found', "no product with id $id");
$body = json_encode($row, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
header('ETag: "' . substr(hash('sha256', $body), 0, 20) . '"');
header('Cache-Control: no-cache');
echo $body;
