// account.js - sign-up, log-in (the token is kept for the tab only) and the admin's page (products, prices, stock).
import { api, session } from './api.js';
import { h, field, errorBox, notice } from './dom.js';

const waitNotice = (s) => notice(`The shop is busy (429): trying again in ${s} s…`);

// Where to go after logging in: ?next=checkout|orders|admin, else the catalog.
const after = (params) => ({ checkout: '#/checkout', orders: '#/orders', admin: '#/admin', cart: '#/cart' }[params.get('next')] || '#/');

async function logIn(email, password) {
	const r = await api('POST', '/api/v1/auth/login', { body: { email, password }, onWait: waitNotice });
	session.set(r.data.token, null);
	const me = await api('GET', '/api/v1/users/me', { onWait: waitNotice });
	session.set(r.data.token, me.data);
	window.dispatchEvent(new Event('sessionchange'));
	return me.data;
}

function busyForm(form, button, label, work) {
	let busy = false;
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		if (busy) return;
		busy = true;
		button.disabled = true;
		try { await work(form.elements); } finally { busy = false; button.disabled = false; button.textContent = label; }
	});
	return form;
}

export async function login(main, { params }) {
	const out = h('div', {});
	const btn = h('button', { type: 'submit' }, 'Log in');
	main.replaceChildren(h('h1', { tabindex: -1 }, 'Log in'),
		busyForm(h('form', { class: 'narrow' },
			field('Email', { name: 'email', type: 'email', autocomplete: 'username', required: true }),
			field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
			btn), btn, 'Log in', async (el) => {
			try {
				const me = await logIn(el.email.value.trim(), el.password.value);
				notice(`Logged in as ${me.email}.`);
				location.hash = after(params);
			} catch (e) { out.replaceChildren(errorBox(e)); }
		}), out,
		h('p', {}, 'New here? ', h('a', { href: `#/signup${params.get('next') ? `?next=${encodeURIComponent(params.get('next'))}` : ''}` }, 'Sign up')));
}

export async function signup(main, { params }) {
	const out = h('div', {});
	const btn = h('button', { type: 'submit' }, 'Sign up');
	main.replaceChildren(h('h1', { tabindex: -1 }, 'Sign up'),
		busyForm(h('form', { class: 'narrow' },
			field('Name', { name: 'name', autocomplete: 'name', maxlength: 100, required: true }),
			field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
			field('Password (8 characters or more)', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: 8, required: true }),
			btn), btn, 'Sign up', async (el) => {
			try {
				const email = el.email.value.trim();
				await api('POST', '/api/v1/users', { body: { email, password: el.password.value, name: el.name.value.trim() }, onWait: waitNotice });
				const me = await logIn(email, el.password.value);
				notice(`Welcome, ${me.name || me.email}: your account is made and you are logged in.`);
				location.hash = after(params);
			} catch (e) { out.replaceChildren(errorBox(e)); }
		}), out,
		h('p', {}, 'Have an account? ', h('a', { href: '#/login' }, 'Log in')));
}

// An admin form: fields, a button, and the API's answer (or error) under it.
function adminForm(title, id, fields, label, work) {
	const out = h('div', { class: 'result', 'aria-live': 'polite' });
	const btn = h('button', { type: 'submit' }, label);
	return h('section', { class: 'admin', 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title),
		busyForm(h('form', { id }, fields, btn), btn, label, async (el) => {
			try { out.replaceChildren(await work(el)); } catch (e) { out.replaceChildren(errorBox(e)); }
		}), out);
}

const cents = (v) => Math.round(Number(v) * 100);

export async function admin(main) {
	const head = h('h1', { tabindex: -1 }, 'Admin');
	const me = session.user;
	if (!session.token || !me || me.role !== 'admin') {
		main.replaceChildren(head, h('p', {}, 'This page is for the shop’s admin: ', h('a', { href: '#/login?next=admin' }, 'log in'), ' with the admin account.'));
		return;
	}
	const link = (p) => h('a', { href: `#/product/${p.id}` }, `product ${p.id}`);
	main.replaceChildren(head,
		adminForm('Create a product', 'create', [
			field('SKU', { name: 'sku', maxlength: 64, required: true }),
			field('Name', { name: 'name', maxlength: 200, required: true }),
			field('Description', { name: 'description', tag: 'textarea', maxlength: 2000, rows: 3 }),
			field('Price (EUR)', { name: 'price', type: 'number', min: 0, step: '0.01', required: true }),
		], 'Create', async (el) => {
			const r = await api('POST', '/api/v1/products', { body: { sku: el.sku.value.trim(), name: el.name.value.trim(),
				description: el.description.value, price_cents: cents(el.price.value) }, onWait: waitNotice });
			return h('p', { class: 'ok' }, 'Created ', link(r.data), `: ${r.data.name}.`);
		}),
		adminForm('Change a price', 'price', [
			field('Product id', { name: 'pid', type: 'number', min: 1, required: true, id: 'price-id' }),
			field('New price (EUR)', { name: 'price', type: 'number', min: 0, step: '0.01', required: true, id: 'price-new' }),
		], 'Change price', async (el) => {
			const r = await api('PATCH', `/api/v1/products/${Number(el.pid.value)}`, { body: { price_cents: cents(el.price.value) }, onWait: waitNotice });
			return h('p', { class: 'ok' }, link(r.data), ` now costs ${(r.data.price_cents / 100).toFixed(2)} ${r.data.currency}.`);
		}),
		adminForm('Set stock', 'stock', [
			field('Product id', { name: 'pid', type: 'number', min: 1, required: true, id: 'stock-id' }),
			field('Available', { name: 'available', type: 'number', min: 0, required: true, id: 'stock-available' }),
		], 'Set stock', async (el) => {
			const r = await api('PUT', `/api/v1/inventory/${Number(el.pid.value)}`, { body: { available: Number(el.available.value) }, onWait: waitNotice });
			return h('p', { class: 'ok' }, `Product ${r.data.product_id}: ${r.data.available} available.`);
		}));
}
