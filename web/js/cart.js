// cart.js - the cart, kept in the browser (localStorage): product ids and quantities, and the name and price last seen.

const KEY = 'shoplab.cart';

export function items() {
	try {
		const v = JSON.parse(localStorage.getItem(KEY) || '[]');
		return Array.isArray(v) ? v.filter((i) => Number.isInteger(i.product_id) && i.quantity > 0) : [];
	} catch {
		return [];
	}
}

function save(list) {
	localStorage.setItem(KEY, JSON.stringify(list));
	window.dispatchEvent(new Event('cartchange'));
}

export function add(product, quantity) {
	const list = items();
	const it = list.find((i) => i.product_id === product.id);
	if (it) it.quantity += quantity;
	else list.push({ product_id: product.id, quantity, name: product.name, price_cents: product.price_cents, currency: product.currency });
	save(list);
}

export function setQuantity(productId, quantity) {
	save(items().map((i) => (i.product_id === productId ? { ...i, quantity } : i)).filter((i) => i.quantity > 0));
}

// Remembers the current name and price (the cart shows what the catalog says now).
export function refresh(product) {
	save(items().map((i) => (i.product_id === product.id
		? { ...i, name: product.name, price_cents: product.price_cents, currency: product.currency } : i)));
}

export function clear() { save([]); }

export function count() { return items().reduce((n, i) => n + i.quantity, 0); }
