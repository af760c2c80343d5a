// dom.js - building the page from data without innerHTML (no markup from the API is ever parsed), and the notice line.

// h('p', {class: 'x', onclick: f}, 'text', child...): an element; strings become text nodes.
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.className = v;
		else if (v === true) el.setAttribute(k, '');
		else el.setAttribute(k, String(v));
	}
	for (const c of children.flat()) {
		if (c === undefined || c === null || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

// A labelled form field: <label for>…</label><input id>.
export function field(label, attrs) {
	const id = attrs.id || `f-${attrs.name}`;
	return h('p', { class: 'field' },
		h('label', { for: id }, label),
		attrs.tag === 'textarea' ? h('textarea', { ...attrs, tag: null, id }) : h('input', { ...attrs, id }));
}

// The error the API gave, with its code and request id, in a role=alert box.
export function errorBox(e) {
	const rid = e.requestId ? h('span', { class: 'rid' }, ` (request id `, h('code', {}, e.requestId), ')') : '';
	return h('div', { class: 'error', role: 'alert' },
		h('strong', {}, e.status ? `Error ${e.status}: ` : 'No answer: '),
		e.message || String(e), e.code ? h('span', { class: 'code' }, ` [${e.code}]`) : '', rid);
}

// Replaces the children of the page's status line (polite live region); '' clears it.
export function notice(...children) {
	const n = document.getElementById('notice');
	n.replaceChildren(...children.flat().filter((c) => c !== '' && c != null));
	n.className = children.length && children[0] !== '' ? 'shown' : '';
}
