// shop.js - the buyer's pages: catalog with search and pages, product with stock, cart, checkout, an order followed live, my orders.
import { api, ApiError, session, sleep, newKey, money } from './api.js';
import { h, field, errorBox, notice } from './dom.js';
import * as cart from './cart.js';

const PAGE = 12;
const ATTEMPT = 'shoplab.checkout';	// the checkout attempt in progress: its key and what it buys

const waitNotice = (s) => notice(`The shop is busy (429): trying again in ${s} s…`);

export async function catalog(main, { params }) {
	const q = (params.get('q') || '').slice(0, 100);
	const after = params.get('after');
	const qs = new URLSearchParams({ limit: String(PAGE) });
	if (q) qs.set('q', q);
	if (after) qs.set('after', after);
	const search = h('form', { role: 'search', class: 'search', onsubmit: (ev) => {
		ev.preventDefault();
		const v = ev.target.elements.q.value.trim();
		location.hash = v ? `#/?q=${encodeURIComponent(v)}` : '#/';
	} }, h('label', { for: 'q' }, 'Search products'),
	h('input', { id: 'q', name: 'q', type: 'search', maxlength: 100, value: q, autocomplete: 'off' }),
	h('button', { type: 'submit' }, 'Search'));
	const head = h('h1', { tabindex: -1 }, q ? `Products matching “${q}”` : 'Products');
	main.replaceChildren(head, search, h('p', {}, 'Loading…'));
	const r = await api('GET', `/api/v1/products?${qs}`, { onWait: waitNotice });
	const list = h('ul', { class: 'products', id: 'products' }, r.data.items.map((p) => h('li', { class: 'card' },
		h('h2', {}, h('a', { href: `#/product/${p.id}` }, p.name)),
		h('p', { class: 'price' }, money(p.price_cents, p.currency)),
		h('p', { class: 'sku' }, `SKU ${p.sku}`))));
	const pager = h('nav', { 'aria-label': 'Pages', class: 'pager' },
		after ? h('a', { href: q ? `#/?q=${encodeURIComponent(q)}` : '#/' }, '« First page') : '',
		r.data.next != null ? h('a', { href: `#/?${new URLSearchParams(q ? { q, after: r.data.next } : { after: r.data.next })}`, rel: 'next' }, 'Next page »') : '');
	main.replaceChildren(head, search,
		r.data.items.length ? list : h('p', {}, q ? 'Nothing matches your search.' : 'The catalog is empty.'), pager);
}

export async function product(main, { match }) {
	const id = match[1];
	const [p, stock] = await Promise.all([
		api('GET', `/api/v1/products/${id}`, { onWait: waitNotice }),
		api('GET', `/api/v1/inventory/${id}`, { onWait: waitNotice }).catch((e) => e),
	]);
	const d = p.data;
	const available = stock instanceof ApiError ? null : stock.data.available;
	const out = h('div', { class: 'result' });
	const form = h('form', { class: 'buy', onsubmit: (ev) => {
		ev.preventDefault();
		const n = Number(ev.target.elements.quantity.value);
		if (!Number.isInteger(n) || n < 1) { out.replaceChildren(h('p', { role: 'alert', class: 'error' }, 'Enter a quantity of 1 or more.')); return; }
		cart.add(d, n);
		out.replaceChildren(h('p', { class: 'ok' }, `Added ${n} × ${d.name} to your cart. `, h('a', { href: '#/cart' }, 'Go to the cart')));
	} }, field('Quantity', { name: 'quantity', type: 'number', min: 1, max: available || undefined, value: 1, required: true, inputmode: 'numeric' }),
	h('button', { type: 'submit', disabled: available === 0 }, 'Add to cart'));
	main.replaceChildren(
		h('p', {}, h('a', { href: '#/' }, '« Catalog')),
		h('h1', { tabindex: -1 }, d.name),
		h('p', { class: 'price big' }, money(d.price_cents, d.currency)),
		h('p', { class: 'sku' }, `SKU ${d.sku} · product ${d.id}`),
		d.description ? h('p', { class: 'desc' }, d.description) : '',
		available === null ? errorBox(stock)
			: h('p', { class: available > 0 ? 'stock' : 'stock none', id: 'stock' }, available > 0 ? `In stock: ${available}` : 'Out of stock'),
		form, out);
}

export async function cartPage(main, ctx) {
	const head = h('h1', { tabindex: -1 }, 'Your cart');
	const list = cart.items();
	if (!list.length) {
		main.replaceChildren(head, h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the catalog')));
		return;
	}
	main.replaceChildren(head, h('p', {}, 'Checking today’s prices…'));
	// Today's names and prices: what the checkout will charge.
	const errs = [];
	await Promise.all(list.map((i) => api('GET', `/api/v1/products/${i.product_id}`, { onWait: waitNotice })
		.then((r) => cart.refresh(r.data)).catch((e) => errs.push(e))));
	if (!ctx.alive()) return;
	const now = cart.items();
	const cur = now[0].currency || 'EUR';
	const total = now.reduce((s, i) => s + i.price_cents * i.quantity, 0);
	const rows = now.map((i) => h('tr', {},
		h('th', { scope: 'row' }, h('a', { href: `#/product/${i.product_id}` }, i.name)),
		h('td', {}, money(i.price_cents, i.currency)),
		h('td', {}, h('label', { for: `qty-${i.product_id}`, class: 'sr-only' }, `Quantity of ${i.name}`),
			h('input', { id: `qty-${i.product_id}`, type: 'number', min: 0, value: i.quantity, class: 'qty', inputmode: 'numeric',
				onchange: (ev) => { const n = Number(ev.target.value); if (Number.isInteger(n) && n >= 0) { cart.setQuantity(i.product_id, n); cartPage(main, ctx).then(() => document.getElementById(`qty-${i.product_id}`)?.focus()); } } })),
		h('td', {}, money(i.price_cents * i.quantity, i.currency)),
		h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => { cart.setQuantity(i.product_id, 0); cartPage(main, ctx).then(() => head.focus()); } }, `Remove ${i.name}`))));
	main.replaceChildren(head, ...errs.map(errorBox),
		h('div', { class: 'table-wrap' }, h('table', { class: 'cart' },
			h('caption', { class: 'sr-only' }, 'Items in your cart'),
			h('thead', {}, h('tr', {}, ['Product', 'Price', 'Quantity', 'Subtotal'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Remove')))),
			h('tbody', {}, rows))),
		h('p', { class: 'total' }, 'Total: ', h('strong', { id: 'cart-total' }, money(total, cur))),
		h('p', {}, h('a', { href: '#/checkout', class: 'button' }, 'Check out')));
}

export async function checkout(main, ctx) {
	const head = h('h1', { tabindex: -1 }, 'Checkout');
	const list = cart.items();
	if (!session.token) {
		main.replaceChildren(head, h('p', {}, 'Please ', h('a', { href: '#/login?next=checkout' }, 'log in'), ' or ',
			h('a', { href: '#/signup?next=checkout' }, 'sign up'), ' to check out.'));
		return;
	}
	if (!list.length) {
		main.replaceChildren(head, h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the catalog')));
		return;
	}
	const out = h('div', { class: 'result', 'aria-live': 'polite' });
	const pay = h('button', { type: 'submit', id: 'pay' }, 'Pay');
	let busy = false;
	const form = h('form', { class: 'checkout', onsubmit: async (ev) => {
		ev.preventDefault();
		if (busy) return;	// a second click while the first attempt runs does nothing
		busy = true;
		pay.disabled = true;
		pay.textContent = 'Paying…';
		try {
			await attempt(ev.target.elements, out, ctx);
		} finally {
			busy = false;
			pay.disabled = false;
			pay.textContent = 'Pay';
		}
	} },
	h('fieldset', {}, h('legend', {}, 'Card (test card prefilled)'),
		field('Card number', { name: 'number', value: '4242 4242 4242 4242', autocomplete: 'cc-number', inputmode: 'numeric', required: true }),
		h('div', { class: 'row' },
			field('Expiry month', { name: 'exp_month', type: 'number', min: 1, max: 12, value: 12, autocomplete: 'cc-exp-month', required: true }),
			field('Expiry year', { name: 'exp_year', type: 'number', min: 2000, max: 2100, value: new Date().getFullYear() + 3, autocomplete: 'cc-exp-year', required: true }),
			field('CVC', { name: 'cvc', value: '123', autocomplete: 'cc-csc', inputmode: 'numeric', required: true }))),
	pay);
	main.replaceChildren(head,
		h('ul', { class: 'summary' }, list.map((i) => h('li', {}, `${i.quantity} × ${i.name}`))),
		h('p', {}, 'You are charged the catalog’s price at the moment you pay.'), form, out);
}

// One checkout attempt: one Idempotency-Key, kept (sessionStorage) until the API gives a
// definite answer, so retries after a timeout, a lost answer or a reload reuse it and can
// never make a second order.
async function attempt(el, out, ctx) {
	const items = cart.items().map((i) => ({ product_id: i.product_id, quantity: i.quantity }));
	const card = { number: el.number.value.replace(/[\s-]/g, ''), exp_month: Number(el.exp_month.value),
		exp_year: Number(el.exp_year.value), cvc: el.cvc.value.trim() };
	// What the attempt buys (never the card number itself): a changed cart is a new attempt.
	const what = JSON.stringify({ items, card: card.number.slice(-4) + card.exp_month + card.exp_year });
	let att = null;
	try { att = JSON.parse(sessionStorage.getItem(ATTEMPT) || 'null'); } catch { att = null; }
	if (!att || att.what !== what) {
		att = { key: newKey(), what };
		sessionStorage.setItem(ATTEMPT, JSON.stringify(att));
	}
	out.replaceChildren(h('p', {}, 'Placing your order…'));
	const tries = 5;
	for (let n = 0; ; n++) {
		try {
			const r = await api('POST', '/api/v1/orders', { body: { items, card }, headers: { 'Idempotency-Key': att.key },
				timeoutMs: 20000, onWait: waitNotice, waits429: 10 });
			sessionStorage.removeItem(ATTEMPT);
			cart.clear();
			notice(r.status === 202 ? 'Order received: pending — your order is safe, we are finishing it.' : 'Order placed and paid.');
			location.hash = `#/order/${r.data.id}`;
			return;
		} catch (e) {
			if (!(e instanceof ApiError)) throw e;
			const unknown = e.unknownOutcome || e.code === 'request_in_progress';
			if (unknown && n + 1 < tries && ctx.alive()) {
				out.replaceChildren(errorBox(e), h('p', {}, `Trying again with the same attempt (${n + 2} of ${tries})…`));
				await sleep(1000 * 2 ** Math.min(n, 3));
				continue;
			}
			if (!unknown) sessionStorage.removeItem(ATTEMPT);	// a definite no: the next Pay is a new attempt
			out.replaceChildren(errorBox(e), unknown
				? h('p', {}, 'We could not learn whether the order was placed. Pressing Pay again repeats this same attempt: it cannot order twice. ',
					h('a', { href: '#/orders' }, 'See my orders'))
				: e.status === 401 ? h('p', {}, h('a', { href: '#/login?next=checkout' }, 'Log in again'), ' to pay.') : '');
			return;
		}
	}
}

const STATUS = {
	pending: 'Pending — your order is safe, we are finishing it.',
	confirmed: 'Confirmed — paid and reserved; waiting for the shipment.',
	shipped: 'Shipped — it is on its way.',
	rejected: 'Rejected — nothing was charged for it.',
};

function orderView(o, names) {
	const steps = ['pending', 'confirmed', 'shipped'];
	const at = o.status === 'rejected' ? -1 : steps.indexOf(o.status);
	return [
		h('p', { class: `status st-${o.status}`, id: 'order-status', 'data-status': o.status }, STATUS[o.status] || o.status,
			o.reject_reason ? ` (${o.reject_reason})` : ''),
		o.status === 'rejected' ? '' : h('ol', { class: 'steps', 'aria-label': 'Progress' }, steps.map((s, i) =>
			h('li', { class: i <= at ? 'done' : '', 'aria-current': i === at ? 'step' : undefined }, s))),
		h('table', { class: 'items' }, h('caption', { class: 'sr-only' }, 'Items'),
			h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Quantity'), h('th', { scope: 'col' }, 'Price'))),
			h('tbody', {}, (o.items || []).map((i) => h('tr', {},
				h('td', {}, h('a', { href: `#/product/${i.product_id}` }, names.get(i.product_id) || `product ${i.product_id}`)),
				h('td', {}, String(i.quantity)),
				h('td', {}, money(i.unit_price_cents, o.currency)))))),
		h('p', { class: 'total' }, 'Total: ', h('strong', { id: 'order-total' }, money(o.total_cents, o.currency))),
		h('p', { class: 'shipment', id: 'shipment' }, o.shipment
			? (o.shipment.dispatched_at ? `Shipment ${o.shipment.id} dispatched at ${o.shipment.dispatched_at}.` : `Shipment ${o.shipment.id} is being prepared.`)
			: (o.status === 'rejected' ? '' : 'No shipment yet.')),
		h('p', { class: 'muted' }, `Ordered at ${o.created_at}.`),
	];
}

// The order, followed by itself: polled until it is shipped or rejected (an error is shown and
// the polling goes on, slower).
export async function order(main, ctx) {
	const id = ctx.match[1];
	const view = h('div', { id: 'order' });
	const err = h('div', {});
	main.replaceChildren(h('h1', { tabindex: -1 }, `Order ${id}`), err, view);
	let delay = 1000;
	const first = await api('GET', `/api/v1/orders/${id}`, { onWait: waitNotice });
	// The products' names (the order holds ids): the catalog's, where it answers.
	const names = new Map();
	await Promise.all((first.data.items || []).map((i) => api('GET', `/api/v1/products/${i.product_id}`)
		.then((r) => names.set(i.product_id, r.data.name)).catch(() => {})));
	if (!ctx.alive()) return;
	view.replaceChildren(...orderView(first.data, names));
	const done = (o) => o.status === 'rejected' || (o.status === 'shipped' && o.shipment && o.shipment.dispatched_at);
	if (done(first.data)) return;
	(async () => {
		while (ctx.alive()) {
			await sleep(delay);
			if (!ctx.alive()) return;
			try {
				const r = await api('GET', `/api/v1/orders/${id}`, { onWait: waitNotice });
				if (!ctx.alive()) return;
				err.replaceChildren();
				view.replaceChildren(...orderView(r.data, names));
				if (done(r.data)) return;
				delay = 1000;
			} catch (e) {
				if (!ctx.alive()) return;
				err.replaceChildren(errorBox(e), h('p', {}, 'Still following the order…'));
				if (e.status === 401 || e.status === 404) return;
				delay = Math.min(delay * 2, 8000);
			}
		}
	})();
}

export async function orders(main, { params }) {
	const head = h('h1', { tabindex: -1 }, 'My orders');
	if (!session.token) {
		main.replaceChildren(head, h('p', {}, 'Please ', h('a', { href: '#/login?next=orders' }, 'log in'), ' to see your orders.'));
		return;
	}
	const qs = new URLSearchParams({ limit: '20' });
	if (params.get('after')) qs.set('after', params.get('after'));
	const r = await api('GET', `/api/v1/orders?${qs}`, { onWait: waitNotice });
	main.replaceChildren(head, r.data.items.length
		? h('ul', { class: 'orders', id: 'orders' }, r.data.items.map((o) => h('li', {},
			h('a', { href: `#/order/${o.id}` }, `Order ${o.id}`), ` — ${o.status} — ${money(o.total_cents, o.currency)} — ${o.created_at}`)))
		: h('p', {}, 'No orders yet.'),
	r.data.next != null ? h('nav', { 'aria-label': 'Pages', class: 'pager' }, h('a', { href: `#/orders?after=${r.data.next}`, rel: 'next' }, 'Older orders »')) : '');
}
