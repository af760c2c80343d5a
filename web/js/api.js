// api.js - the storefront's one way to call the JSON API: the token, timeouts, errors with their request id, 429 waits.

const TOKEN = 'shoplab.token';
const USER = 'shoplab.user';

// An answer the API did not give as a success: status 0 is no answer at all (network, timeout).
export class ApiError extends Error {
	constructor(status, code, message, requestId) {
		super(message);
		this.status = status;
		this.code = code;
		this.requestId = requestId;
	}
	// True when the request may have been done without us hearing of it: no answer, or a
	// gateway that lost the service. A retry must reuse the same Idempotency-Key.
	get unknownOutcome() {
		return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
	}
}

// The session lives in the tab only (sessionStorage): closing the tab logs out.
export const session = {
	get token() { return sessionStorage.getItem(TOKEN); },
	get user() {
		try { return JSON.parse(sessionStorage.getItem(USER) || 'null'); } catch { return null; }
	},
	set(token, user) {
		sessionStorage.setItem(TOKEN, token);
		sessionStorage.setItem(USER, JSON.stringify(user));
	},
	clear() {
		sessionStorage.removeItem(TOKEN);
		sessionStorage.removeItem(USER);
	},
};

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Seconds a 429 asks us to wait (Retry-After as seconds or a date), between 1 and 30.
function retryAfter(res) {
	const v = res.headers.get('Retry-After');
	let s = Number(v);
	if (!Number.isFinite(s)) s = (Date.parse(v) - Date.now()) / 1000;
	if (!Number.isFinite(s)) s = 1;
	return Math.min(30, Math.max(1, Math.ceil(s)));
}

// api(method, path, opts) -> {status, data, requestId}; throws ApiError for anything else.
// opts: body (sent as JSON), headers, timeoutMs (10 s), onWait(seconds) told of each 429 wait,
// waits429 (3): how many 429s to wait out before giving up with the API's error.
export async function api(method, path, opts = {}) {
	const headers = { Accept: 'application/json', ...(opts.headers || {}) };
	if (session.token) headers.Authorization = `Bearer ${session.token}`;
	if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
	const waits = opts.waits429 ?? 3;
	for (let n = 0; ; n++) {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), opts.timeoutMs || 10000);
		let res, text;
		try {
			res = await fetch(path, {
				method, headers, signal: ctl.signal, credentials: 'omit',
				body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
			});
			text = await res.text();
		} catch (e) {
			throw e.name === 'AbortError'
				? new ApiError(0, 'timeout', 'the shop did not answer in time', null)
				: new ApiError(0, 'network', 'the shop cannot be reached', null);
		} finally {
			clearTimeout(timer);
		}
		let data = null;
		try { data = text ? JSON.parse(text) : null; } catch { data = null; }
		const rid = res.headers.get('X-Request-Id');
		if (res.status === 429 && n < waits) {
			const s = retryAfter(res);
			if (opts.onWait) opts.onWait(s);
			await sleep(s * 1000);
			continue;
		}
		if (!res.ok) {
			const e = data && data.error ? data.error : {};
			if (res.status === 401 && session.token) {
				session.clear();	// the token expired or is bad: the navigation shows "Log in" again
				window.dispatchEvent(new Event('sessionchange'));
			}
			throw new ApiError(res.status, e.code || `http_${res.status}`,
				e.message || `the shop answered ${res.status}`, e.request_id || rid);
		}
		return { status: res.status, data, requestId: rid };
	}
}

// A fresh Idempotency-Key: 128 random bits as hex (crypto.getRandomValues works on plain HTTP too).
export function newKey() {
	const b = new Uint8Array(16);
	crypto.getRandomValues(b);
	return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function money(cents, currency) {
	try {
		return new Intl.NumberFormat('en', { style: 'currency', currency: currency || 'EUR' }).format(cents / 100);
	} catch {
		return `${(cents / 100).toFixed(2)} ${currency || ''}`.trim();
	}
}
