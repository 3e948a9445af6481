//! The JavaScript journeyd runs in pages: the locator and actionability probe every element action and query
//! goes through, and the web-vitals observer installed before any page script runs.

use serde_json::Value;

use super::Locator;

/// One call of the element probe: `op` on the elements `locator` matches, with an argument. The probe is
/// sent whole each time (about 2 KB) rather than installed in the page, so a page that replaces globals or
/// navigates cannot break it.
pub(crate) fn probe(locator: &Locator, op: &str, arg: &str) -> String {
    let (kind, selector) = match locator {
        Locator::Css(css) => ("css", css.as_str()),
        Locator::Text(text) => ("text", text.as_str()),
    };
    let args = [kind, selector, op, arg].map(|s| Value::String(s.to_string()).to_string()).join(",");
    format!("({PROBE})({args})")
}

/// Returns `{state, …}`: `missing` (nothing matches), `hidden`, `disabled`, `covered` (another element is on
/// top of its centre), `not-editable`, `not-select`, `no-option`, `bad-selector` with `error`, or `ok` with
/// the op's result in `value` (and `x`, `y` for `point`).
const PROBE: &str = r#"function (kind, sel, op, arg) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const skip = /^(SCRIPT|STYLE|NOSCRIPT|TEMPLATE|HEAD|TITLE)$/;
  const textOf = (el) => {
    if (el.tagName === 'INPUT' && /^(button|submit|reset)$/i.test(el.type)) return el.value;
    return el.textContent;
  };
  function all() {
    if (kind === 'css') return Array.from(document.querySelectorAll(sel));
    let want = sel, exact = false;
    if (want.length >= 2 && want.startsWith('"') && want.endsWith('"')) { exact = true; want = want.slice(1, -1); }
    want = norm(want).toLowerCase();
    const hit = (el) => {
      if (skip.test(el.tagName)) return false;
      const t = norm(textOf(el)).toLowerCase();
      return exact ? t === want : t.includes(want);
    };
    const out = [];
    if (!document.body) return out;
    for (const el of document.body.querySelectorAll('*')) {
      if (hit(el) && !Array.from(el.children).some(hit)) out.push(el);
    }
    return out;
  }
  const visible = (el) => {
    if (!el.isConnected) return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.visibility === 'collapse') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const enabled = (el) => !el.matches(':disabled') && el.getAttribute('aria-disabled') !== 'true';
  const editable = (el) => el.isContentEditable ||
    (el.tagName === 'TEXTAREA' && !el.readOnly) ||
    (el.tagName === 'INPUT' && !el.readOnly && !/^(button|submit|reset|checkbox|radio|file|image|hidden|range|color)$/i.test(el.type));
  let els;
  try { els = all(); } catch (e) { return { state: 'bad-selector', error: String(e && e.message || e) }; }
  if (op === 'count') return { state: 'ok', value: els.length };
  if (op === 'attached') return { state: els.length ? 'ok' : 'missing' };
  if (op === 'hidden') return { state: els.some(visible) ? 'visible' : 'ok' };
  if (op === 'is-visible') return { state: 'ok', value: els.some(visible) };
  if (els.length === 0) return { state: 'missing' };
  if (op === 'text') return { state: 'ok', value: els[0].innerText === undefined ? els[0].textContent : els[0].innerText };
  if (op === 'attr') return { state: 'ok', value: els[0].getAttribute(arg) };
  const shown = els.find(visible);
  if (!shown) return { state: 'hidden' };
  if (op === 'visible') return { state: 'ok' };
  const el = shown;
  if (!enabled(el)) return { state: 'disabled' };
  if (op === 'point') {
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const top = document.elementFromPoint(x, y);
    if (!top || !(top === el || el.contains(top) || top.contains(el) && top.tagName === 'LABEL')) {
      return { state: 'covered', value: top ? top.tagName.toLowerCase() + (top.id ? '#' + top.id : '') : 'nothing' };
    }
    return { state: 'ok', x, y };
  }
  if (op === 'focus-clear') {
    if (!editable(el)) return { state: 'not-editable' };
    el.focus();
    if (el.isContentEditable) { el.textContent = ''; }
    else { el.value = ''; }
    el.dispatchEvent(new Event('input', { bubbles: true }));
    return { state: 'ok' };
  }
  if (op === 'focus') {
    if (!editable(el)) return { state: 'not-editable' };
    el.focus();
    return { state: 'ok' };
  }
  if (op === 'changed') {
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return { state: 'ok' };
  }
  if (op === 'select') {
    if (el.tagName !== 'SELECT') return { state: 'not-select' };
    const option = Array.from(el.options).find((o) => o.value === arg) ||
      Array.from(el.options).find((o) => norm(o.label) === norm(arg));
    if (!option) return { state: 'no-option' };
    el.value = option.value;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return { state: 'ok' };
  }
  return { state: 'bad-op' };
}"#;

/// Installed with `Page.addScriptToEvaluateOnNewDocument`, so it runs before the page's own scripts in every
/// document: observes paints, LCP candidates, layout shifts and long tasks into `window.__journeydVitals`.
/// CLS is the largest session window (shifts less than 1 s apart, at most 5 s long) of shifts without recent
/// input, as web-vitals computes it; TBT sums the part over 50 ms of long tasks that start after FCP.
pub(crate) const VITALS: &str = r#"(() => {
  if (window.__journeydVitals || typeof PerformanceObserver === 'undefined') return;
  const v = window.__journeydVitals = { fcp: null, lcp: null, cls: 0, tbt: 0, longTasks: [] };
  let windowValue = 0, windowStart = 0, last = 0;
  const watch = (type, fn) => { try { new PerformanceObserver((l) => l.getEntries().forEach(fn)).observe({ type, buffered: true }); } catch (e) {} };
  const blocking = () => v.fcp === null ? 0 : v.longTasks.reduce((sum, t) => t.start >= v.fcp ? sum + Math.max(0, t.duration - 50) : sum, 0);
  watch('paint', (e) => { if (e.name === 'first-contentful-paint') { v.fcp = e.startTime; v.tbt = blocking(); } });
  watch('largest-contentful-paint', (e) => { v.lcp = e.renderTime || e.loadTime || e.startTime; });
  watch('layout-shift', (e) => {
    if (e.hadRecentInput) return;
    if (windowValue && e.startTime - last < 1000 && e.startTime - windowStart < 5000) { windowValue += e.value; }
    else { windowValue = e.value; windowStart = e.startTime; }
    last = e.startTime;
    if (windowValue > v.cls) v.cls = windowValue;
  });
  watch('longtask', (e) => {
    if (v.longTasks.length < 1000) v.longTasks.push({ start: e.startTime, duration: e.duration });
    v.tbt = blocking();
  });
})();"#;

/// Reads navigation timing and `window.__journeydVitals` as milliseconds (`null` where not measured).
pub(crate) const TIMINGS: &str = r#"(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const ms = (x) => (typeof x === 'number' && x > 0) ? x : null;
  const v = window.__journeydVitals;
  return {
    ttfb: nav ? ms(nav.responseStart) : null,
    dcl: nav ? ms(nav.domContentLoadedEventEnd) : null,
    load: nav ? ms(nav.loadEventEnd) : null,
    fcp: v ? v.fcp : null,
    lcp: v ? v.lcp : null,
    cls: v ? v.cls : null,
    tbt: v && v.fcp !== null ? v.tbt : null,
  };
})()"#;
