// app.js - the storefront's entry: hash routes (#/product/42) to pages, the navigation, focus on each new page.
import { session } from './api.js';
import { h, errorBox, notice } from './dom.js';
import * as cart from './cart.js';
import { catalog, product, cartPage, checkout, order, orders } from './shop.js';
import { login, signup, admin } from './account.js';

const routes = [
	[/^\/$/, catalog, 'Catalog'],
	[/^\/product\/([1-9][0-9]{0,18})$/, product, 'Product'],
	[/^\/cart$/, cartPage, 'Cart'],
	[/^\/checkout$/, checkout, 'Checkout'],
	[/^\/order\/([1-9][0-9]{0,18})$/, order, 'Order'],
	[/^\/orders$/, orders, 'My orders'],
	[/^\/login$/, login, 'Log in'],
	[/^\/signup$/, signup, 'Sign up'],
	[/^\/admin$/, admin, 'Admin'],
];

let generation = 0;

function nav() {
	const u = session.user;
	for (const el of document.querySelectorAll('.anon-only')) el.hidden = !!u;
	for (const el of document.querySelectorAll('.user-only')) el.hidden = !u;
	for (const el of document.querySelectorAll('.admin-only')) el.hidden = !(u && u.role === 'admin');
	const n = cart.count();
	document.getElementById('nav-cart').textContent = n ? `Cart (${n})` : 'Cart';
	const here = location.hash.split('?')[0] || '#/';
	for (const a of document.querySelectorAll('#nav a')) {
		if (a.getAttribute('href') === here) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

async function route() {
	const my = ++generation;
	const raw = location.hash.replace(/^#/, '') || '/';
	const [path, qs] = raw.split('?');
	const main = document.getElementById('main');
	const found = routes.map(([re, page, title]) => [path.match(re), page, title]).find(([m]) => m);
	nav();
	const ctx = { params: new URLSearchParams(qs || ''), alive: () => my === generation };
	try {
		if (!found) {
			main.replaceChildren(h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Go to the catalog')));
			document.title = 'Not found — shoplab';
		} else {
			const [match, page, title] = found;
			document.title = `${title} — shoplab`;
			await page(main, { ...ctx, match });
		}
	} catch (e) {
		if (my !== generation) return;
		main.replaceChildren(h('h1', { tabindex: -1 }, 'Something went wrong'), errorBox(e),
			e.status === 401 ? h('p', {}, h('a', { href: '#/login' }, 'Log in again')) : '');
		nav();
	}
	if (my !== generation) return;
	// A new page takes the focus to its heading; the first page loaded leaves it at the top
	// (the skip link is the first Tab).
	const h1 = main.querySelector('h1');
	if (my > 1 && h1 && !main.contains(document.activeElement)) h1.focus();
}

// A notice survives the one page change it announces, then goes.
let keepNotice = false;
const noticeBox = document.getElementById('notice');
new MutationObserver(() => { keepNotice = true; }).observe(noticeBox, { childList: true });

window.addEventListener('hashchange', () => {
	if (!keepNotice) notice('');
	keepNotice = false;
	route();
});
window.addEventListener('cartchange', nav);
window.addEventListener('sessionchange', nav);
window.addEventListener('storage', nav);
document.getElementById('logout').addEventListener('click', () => {
	session.clear();
	nav();
	notice('Logged out.');
	location.hash = '#/';
});
// The skip link moves focus to the content without touching the route.
document.querySelector('.skip').addEventListener('click', (ev) => {
	ev.preventDefault();
	document.getElementById('main').focus();
});
route();
