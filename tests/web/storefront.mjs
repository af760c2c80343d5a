// storefront.mjs - the storefront in a real Chromium (puppeteer-core): a buyer's whole path, faults, a double Pay, the admin, axe-core.
//
// Run by tests/web/test_storefront.sh against a running stack (its shoplab.env in the
// environment). Screenshots of every page go to WEB_OUT. Exit 0 only when every check held.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.WEB_TOOLS, 'package.json'));
const puppeteer = require('puppeteer-core');
const axeSource = require('axe-core').source;

const G = process.env.SHOPLAB_GATEWAY_URL;
// The payments outage needs the sim proxy (SHOPLAB_PROXY=1; the netns lab runs without it).
const PROXY = process.env.SHOPLAB_PROXY === '1' ? process.env.SHOPLAB_PROXY_API || '' : '';
const OUT = process.env.WEB_OUT;
const ORIGIN = new URL(G).origin;
const RUN = `${Date.now().toString(36)}${process.pid}`;
const T = 30000;
fs.mkdirSync(OUT, { recursive: true });

const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
let passed = 0;
let failed = 0;
function check(ok, what, detail) {
	if (ok) { passed++; console.log(`${secs()} s ok   ${what}`); } else { failed++; console.log(`${secs()} s FAIL ${what}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`); }
	return ok;
}

async function call(method, p, { token, body, headers } = {}) {
	const h = { Accept: 'application/json', ...(headers || {}) };
	if (token) h.Authorization = `Bearer ${token}`;
	if (body !== undefined) h['Content-Type'] = 'application/json';
	const r = await fetch(G + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	let data = null;
	try { data = JSON.parse(text); } catch { data = null; }
	return { status: r.status, data, headers: r.headers, text };
}
async function tokenOf(email, password) {
	const r = await call('POST', '/api/v1/auth/login', { body: { email, password } });
	if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
	return r.data.token;
}
async function myOrders(token) {
	const r = await call('GET', '/api/v1/orders?limit=100', { token });
	if (r.status !== 200) throw new Error(`GET /api/v1/orders: ${r.status}`);
	return r.data.items;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the gateway's side, no browser
async function gatewayChecks() {
	const page = await fetch(`${G}/`, { headers: { Accept: 'text/html,*/*' } });
	const html = await page.text();
	const csp = page.headers.get('content-security-policy') || '';
	check(page.status === 200 && /text\/html/.test(page.headers.get('content-type')) && html.includes('js/app.js'),
		'GET / for a browser is the storefront page', page.status);
	check(/default-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval|\*/.test(csp), 'a strict CSP: default-src \'self\', nothing unsafe', csp);
	const etag = page.headers.get('etag');
	check(!!etag, 'the page has an ETag', etag);
	const again = await fetch(`${G}/`, { headers: { Accept: 'text/html', 'If-None-Match': etag || 'x' } });
	check(again.status === 304, 'a revalidation with If-None-Match is 304', again.status);
	const js = await fetch(`${G}/js/app.js`);
	check(js.status === 200 && /javascript/.test(js.headers.get('content-type')) && /default-src 'self'/.test(js.headers.get('content-security-policy') || ''),
		'a module is text/javascript under the same CSP', js.headers.get('content-type'));
	const root = await call('GET', '/');
	check(root.status === 200 && root.data && root.data.service === 'shoplab', 'GET / for an API client stays the JSON root', root.text);
	const nope = await call('GET', '/api/v1/nope');
	check(nope.status === 404 && nope.data && nope.data.error && nope.data.error.code === 'not_found', 'an unknown API route is a JSON 404', nope.text);
	const missing = await call('GET', '/no-such-file.js');
	check(missing.status === 404 && missing.data && missing.data.error, 'a missing file is the JSON 404', missing.status);
}

// ---------------------------------------------------------------- browser helpers
const problems = [];	// console errors, page errors, CSP reports, requests elsewhere, per page
const axeFound = [];

async function newTab(browser, width = 1280) {
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	await page.setViewport({ width, height: 900 });
	page.setDefaultTimeout(T);
	page.on('console', (m) => {
		// A failed API call is shown on the page and logged by Chromium as a resource error:
		// the tests that cause them on purpose are the only ones, so they are not problems.
		if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith('data:') && new URL(u).origin !== ORIGIN) problems.push(`request to another origin: ${u}`);
	});
	return { ctx, page };
}

async function go(page, hash) {
	await page.evaluate((h) => { location.hash = h; }, hash).catch(() => {});
	await page.waitForFunction((h) => location.hash === h, {}, hash);
}

async function shot(page, name) {
	await sleep(150);
	await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

// axe-core on the page as it is: no serious or critical violation. (evaluate() is the DevTools
// protocol's, so the page's CSP, which forbids inline scripts, does not stop it.)
async function axe(page, name) {
	await page.evaluate(axeSource);
	const v = await page.evaluate(async () => {
		const r = await window.axe.run(document, { resultTypes: ['violations'] });
		return r.violations.map((x) => ({ id: x.id, impact: x.impact, nodes: x.nodes.length, target: x.nodes[0] && x.nodes[0].target }));
	});
	const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
	axeFound.push(...v.map((x) => ({ page: name, ...x })));
	check(bad.length === 0, `axe: no serious or critical violation on ${name}`, bad);
}

async function text(page, sel) { return page.$eval(sel, (e) => e.textContent); }

async function fill(page, sel, value) {
	await page.$eval(sel, (e) => { e.value = ''; });
	await page.type(sel, String(value));
}

async function addToCart(page, id, qty) {
	await go(page, `#/product/${id}`);
	await page.waitForSelector('#stock');
	await fill(page, '#f-quantity', qty);
	await page.click('form.buy button[type=submit]');
	await page.waitForSelector('.result .ok');
}

async function checkoutPage(page) {
	await go(page, '#/checkout');
	await page.waitForSelector('#pay');
}

async function orderIdAfterPay(page) {
	await page.waitForFunction(() => /^#\/order\/\d+$/.test(location.hash), { timeout: 45000 });
	await page.waitForSelector('#order-status');
	return Number(await page.evaluate(() => location.hash.split('/')[2]));
}

async function waitStatus(page, statuses, timeout) {
	await page.waitForFunction((s) => { const e = document.getElementById('order-status'); return e && s.includes(e.dataset.status); },
		{ timeout, polling: 200 }, statuses);
	return page.$eval('#order-status', (e) => e.dataset.status);
}

// ---------------------------------------------------------------- scenarios
async function main() {
	await gatewayChecks();
	const adminToken = await tokenOf(process.env.SHOPLAB_ADMIN_EMAIL, process.env.SHOPLAB_ADMIN_PASSWORD);
	const made = [];
	for (const [suffix, price] of [['a', 1250], ['b', 799]]) {
		const r = await call('POST', '/api/v1/products', { token: adminToken,
			body: { sku: `web-${RUN}-${suffix}`, name: `Web ${RUN} teapot ${suffix.toUpperCase()}`, description: 'A teapot for the browser test.', price_cents: price } });
		if (r.status !== 201) throw new Error(`create product: ${r.status} ${r.text}`);
		const s = await call('PUT', `/api/v1/inventory/${r.data.id}`, { token: adminToken, body: { available: 50 } });
		if (s.status !== 200) throw new Error(`set stock: ${s.status} ${s.text}`);
		made.push(r.data);
	}
	const [A, B] = made;

	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM, headless: true, protocolTimeout: 120000,
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
	});
	try {
		// 1. A new buyer signs up, searches, buys two products and sees the order shipped.
		const { page } = await newTab(browser);
		const cdp = await page.createCDPSession();
		await cdp.send('Network.enable');
		let bytes = 0;
		cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
		await page.goto(`${G}/`, { waitUntil: 'networkidle0' });
		await page.waitForSelector('#products, main p');
		check(bytes > 0 && bytes < 100 * 1024, `the first page's transfer is under 100 KB (${bytes} bytes)`, bytes);
		await cdp.detach();
		await page.keyboard.press('Tab');
		check(await page.evaluate(() => document.activeElement.className === 'skip'), 'the first Tab reaches the skip link');
		await page.keyboard.press('Enter');
		check(await page.evaluate(() => document.activeElement.id === 'main'), 'the skip link moves focus to the content');

		const email = `web-${RUN}@example.com`;
		const password = 'correct horse battery';
		await go(page, '#/signup');
		await page.waitForSelector('#f-email');
		await fill(page, '#f-name', 'Web Buyer');
		await fill(page, '#f-email', email);
		await fill(page, '#f-password', password);
		await shot(page, 'signup');
		await axe(page, 'signup');
		await page.click('form.narrow button[type=submit]');
		await page.waitForFunction(() => location.hash === '#/' && sessionStorage.getItem('shoplab.token'));
		check(await page.evaluate(() => !Object.keys(localStorage).some((k) => /token/.test(k))), 'the token is in sessionStorage, not localStorage');
		const buyerToken = await tokenOf(email, password);

		await page.waitForSelector('#q');
		await fill(page, '#q', RUN);
		await page.keyboard.press('Enter');
		// The search's own results: the catalog page may still show the first page's items (or
		// its placeholder rows) for a moment after Enter.
		await page.waitForFunction((run) => {
			const l = [...document.querySelectorAll('#products h2 a')];
			return l.length > 0 && l.every((a) => a.textContent.includes(run));
		}, {}, RUN).catch(() => {});
		const found = await page.$$eval('#products h2 a', (as) => as.map((a) => a.textContent));
		check(found.length === 2 && found.every((n) => n.includes(RUN)), 'the search finds the two products', found);
		await shot(page, 'catalog');
		await axe(page, 'catalog');
		// Pages: one product per page, the next page link and back.
		await go(page, `#/?q=${RUN}&after=${A.id}`);
		await page.waitForFunction((n) => { const l = document.querySelectorAll('#products h2 a'); return l.length === 1 && l[0].textContent.endsWith(n); }, {}, 'B');
		check(true, 'after= pages the search');

		await page.click('a[href="#/"]');
		await go(page, `#/product/${A.id}`);
		await page.waitForSelector('#stock');
		check((await text(page, '#stock')).includes('50'), 'the product page shows the stock', await text(page, '#stock'));
		await shot(page, 'product');
		await axe(page, 'product');
		await addToCart(page, A.id, 2);
		await addToCart(page, B.id, 1);
		check((await text(page, '#nav-cart')) === 'Cart (3)', 'the cart count in the navigation', await text(page, '#nav-cart'));
		await go(page, '#/cart');
		await page.waitForSelector('#cart-total');
		check((await text(page, '#cart-total')).includes('32.99'), 'the cart total is 2 × 12.50 + 7.99', await text(page, '#cart-total'));
		await shot(page, 'cart');
		await axe(page, 'cart');
		await page.click('main a.button');
		await page.waitForSelector('#pay');
		await shot(page, 'checkout');
		await axe(page, 'checkout');
		await page.click('#pay');
		const o1 = await orderIdAfterPay(page);
		check(o1 > 0, `the checkout leads to the order page (order ${o1})`);
		const st1 = await waitStatus(page, ['shipped'], 60000).catch(() => null);
		check(st1 === 'shipped', 'the order page follows the order to shipped by itself', st1);
		check(/dispatched/.test(await text(page, '#shipment')), 'the order page shows the shipment', await text(page, '#shipment'));
		const api1 = await call('GET', `/api/v1/orders/${o1}`, { token: buyerToken });
		check(api1.data && api1.data.total_cents === 3299 && (await text(page, '#order-total')).includes('32.99'), 'the order charged 32.99, as the page says', api1.data);
		await shot(page, 'order');
		await axe(page, 'order');
		check((await page.evaluate(() => localStorage.getItem('shoplab.cart'))) === '[]', 'the cart is emptied by the order');
		await go(page, '#/orders');
		await page.waitForSelector('#orders');
		check((await text(page, '#orders')).includes(`Order ${o1}`), 'my orders lists it');
		await shot(page, 'orders');
		await axe(page, 'orders');

		// The API's errors are shown with their code and request id.
		await go(page, '#/product/999999999');
		await page.waitForSelector('.error');
		const err = await text(page, '.error');
		check(/404/.test(err) && /not_found/.test(err) && /request id \S+/.test(err), 'an API error shows its status, code and request id', err);

		// 2. A double-clicked Pay makes one order.
		const before2 = (await myOrders(buyerToken)).length;
		await addToCart(page, B.id, 1);
		await checkoutPage(page);
		const disabled = await page.evaluate(() => {
			const b = document.getElementById('pay');
			b.click();
			b.click();
			b.form.requestSubmit();
			return b.disabled;
		});
		check(disabled, 'Pay is disabled while the attempt runs');
		const o2 = await orderIdAfterPay(page);
		await sleep(1500);
		const after2 = await myOrders(buyerToken);
		check(after2.length === before2 + 1, `three Pay presses made one order (${after2.length - before2})`, after2.length - before2);

		// 3. An answer lost on its way back: the retry reuses the key and finds the same order.
		const before3 = (await myOrders(buyerToken)).length;
		await addToCart(page, B.id, 1);
		await checkoutPage(page);
		const keys = [];
		const seen = (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/orders')) keys.push(r.headers()['idempotency-key']); };
		page.on('request', seen);
		const fcdp = await page.createCDPSession();
		let dropped = 0;
		fcdp.on('Fetch.requestPaused', async (e) => {
			try {
				if (e.request.method === 'POST' && dropped === 0 && e.responseStatusCode !== undefined) {
					dropped++;
					await fcdp.send('Fetch.failRequest', { requestId: e.requestId, errorReason: 'ConnectionReset' });
				} else {
					await fcdp.send('Fetch.continueRequest', { requestId: e.requestId });
				}
			} catch (x) { problems.push(`fetch interception: ${x.message}`); }
		});
		await fcdp.send('Fetch.enable', { patterns: [{ urlPattern: '*/api/v1/orders', requestStage: 'Response' }] });
		await page.click('#pay');
		const o3 = await orderIdAfterPay(page);
		await fcdp.send('Fetch.disable');
		await fcdp.detach();
		page.off('request', seen);
		const after3 = await myOrders(buyerToken);
		check(dropped === 1 && keys.length >= 2 && keys.every((k) => k && k === keys[0]),
			`a lost answer was retried with the same Idempotency-Key (${keys.length} POSTs)`, keys);
		check(after3.length === before3 + 1 && after3.some((o) => o.id === o3), 'the lost answer and its retry made one order', after3.length - before3);

		// 4. A checkout during a payments outage shows pending, then confirmed by itself.
		if (PROXY) {
			const proxies = await (await fetch(`${PROXY}/proxies`)).json();
			const name = Object.keys(proxies).find((n) => n === 'gateway-payments') || Object.keys(proxies).find((n) => /payments/.test(n) && !/db|broker/.test(n));
			check(!!name, 'the proxy on the arrow to payments exists', Object.keys(proxies));
			await addToCart(page, A.id, 1);
			await checkoutPage(page);
			const add = await fetch(`${PROXY}/proxies/${name}/toxics`, { method: 'POST',
				body: JSON.stringify({ name: 'web_outage', type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } }) });
			check(add.status === 200, `a timeout toxic on ${name}`, add.status);
			let st4 = null;
			let pendingText = '';
			try {
				await page.click('#pay');
				await orderIdAfterPay(page);
				st4 = await page.$eval('#order-status', (e) => e.dataset.status);
				pendingText = await text(page, '#order-status');
				await shot(page, 'order-pending');
			} finally {
				await fetch(`${PROXY}/proxies/${name}/toxics/web_outage`, { method: 'DELETE' });
			}
			check(st4 === 'pending' && /your order is safe, we are finishing it/.test(pendingText), 'during the outage the order page says pending — your order is safe', pendingText);
			const end4 = await waitStatus(page, ['confirmed', 'shipped'], 90000).catch(() => null);
			check(end4 === 'confirmed' || end4 === 'shipped', 'after the outage the same page shows it confirmed by itself', end4);
		} else {
			console.log('skip the payments outage: no SHOPLAB_PROXY_API');
		}

		// 5. The admin changes a price and the next checkout charges it.
		const { page: adm } = await newTab(browser);
		await adm.goto(`${G}/#/login?next=admin`, { waitUntil: 'networkidle0' });
		await adm.waitForSelector('#f-email');
		await fill(adm, '#f-email', process.env.SHOPLAB_ADMIN_EMAIL);
		await fill(adm, '#f-password', process.env.SHOPLAB_ADMIN_PASSWORD);
		await shot(adm, 'login');
		await axe(adm, 'login');
		await adm.click('form.narrow button[type=submit]');
		await adm.waitForSelector('#price-id');
		check(await adm.$eval('.admin-only', (e) => !e.hidden), 'the admin sees the Admin link');
		await fill(adm, '#price-id', A.id);
		await fill(adm, '#price-new', '15.00');
		await adm.click('#price button[type=submit]');
		await adm.waitForSelector('#price + .result .ok');
		check((await text(adm, '#price + .result')).includes('15.00'), 'the admin page changed the price', await text(adm, '#price + .result'));
		await fill(adm, '#f-sku', `web-${RUN}-c`);
		await fill(adm, '#f-name', `Web ${RUN} kettle C`);
		await fill(adm, '#f-price', '3.50');
		await adm.click('#create button[type=submit]');
		await adm.waitForSelector('#create + .result .ok, #create + .result .error');
		const created = await text(adm, '#create + .result');
		const cid = (created.match(/product (\d+)/) || [])[1];
		check(!!cid, 'the admin page created a product', created);
		await fill(adm, '#stock-id', cid || 1);
		await fill(adm, '#stock-available', 7);
		await adm.click('#stock button[type=submit]');
		await adm.waitForSelector('#stock + .result .ok, #stock + .result .error');
		const inv = await call('GET', `/api/v1/inventory/${cid}`);
		check(inv.data && inv.data.available === 7, 'the admin page set the stock', inv.text);
		await shot(adm, 'admin');
		await axe(adm, 'admin');

		await addToCart(page, A.id, 1);
		await checkoutPage(page);
		await page.click('#pay');
		const o5 = await orderIdAfterPay(page);
		const api5 = await call('GET', `/api/v1/orders/${o5}`, { token: buyerToken });
		check(api5.data && api5.data.total_cents === 1500, 'the next checkout charges the new price', api5.data);

		// 6. A 429 waits for Retry-After and then shows the page (the answer is made up here).
		const fake = await page.createCDPSession();
		let served429 = 0;
		fake.on('Fetch.requestPaused', async (e) => {
			if (served429 === 0) {
				served429++;
				await fake.send('Fetch.fulfillRequest', { requestId: e.requestId, responseCode: 429,
					responseHeaders: [{ name: 'Retry-After', value: '1' }, { name: 'Content-Type', value: 'application/json' }],
					body: Buffer.from('{"error":{"code":"rate_limited","message":"too many requests; slow down","request_id":"fake-429"}}').toString('base64') });
			} else {
				await fake.send('Fetch.continueRequest', { requestId: e.requestId });
			}
		});
		await fake.send('Fetch.enable', { patterns: [{ urlPattern: '*/api/v1/products?*', requestStage: 'Request' }] });
		await go(page, `#/?q=${RUN}x429`);
		await page.waitForFunction(() => /trying again in 1 s/.test(document.getElementById('notice').textContent), { timeout: 5000 });
		await page.waitForFunction(() => /Nothing matches/.test(document.querySelector('main').textContent));
		check(served429 === 1, 'a 429 is waited out (Retry-After) and the page then shows the answer');
		await fake.send('Fetch.disable');
		await fake.detach();

		// 7. 360 px wide: nothing scrolls sideways.
		const { page: small } = await newTab(browser, 360);
		await small.goto(`${G}/#/product/${A.id}`, { waitUntil: 'networkidle0' });
		await small.waitForSelector('#stock');
		for (const [hash, sel] of [[`#/product/${A.id}`, '#stock'], [`#/?q=${RUN}`, '#products'], [`#/order/${o1}`, 'main h1'], ['#/signup', '#f-email']]) {
			await go(small, hash);
			await small.waitForSelector(sel);
			const w = await small.evaluate(() => document.documentElement.scrollWidth);
			check(w <= 360, `360 px: ${hash} fits (${w} px)`, w);
		}
		await shot(small, 'product-360');
	} finally {
		await browser.close();
	}
	check(problems.length === 0, 'no console error, page error or request to another origin', problems);
	fs.writeFileSync(path.join(OUT, 'axe.json'), JSON.stringify(axeFound, null, 1));
}

try {
	await main();
} catch (e) {
	failed++;
	console.log(`FAIL ${e.stack || e}`);
}
console.log(`storefront: ${passed} passed, ${failed} failed; screenshots in ${OUT}`);
process.exit(failed ? 1 : 0);
