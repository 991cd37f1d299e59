// A few DOM helpers: elements are built, never parsed from strings, so no record's text is markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

let fields = 0;

/** A labelled control: ``<label for>`` + the control, with a fresh id. */
export function field(label, control) {
  const id = control.id || `f${++fields}`;
  control.id = id;
  return [h("label", { for: id }, label), control];
}

/** A checkbox or a radio button with its ``<label for>`` after it, the row a finger's height. */
export function check(label, control) {
  const id = control.id || `f${++fields}`;
  control.id = id;
  return h("div", { class: "check" }, control, h("label", { for: id }, label));
}

export function select(name, options, selected) {
  return h(
    "select",
    { name },
    Object.entries(options).map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function day(isoDate) {
  if (!isoDate) return "";
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString([], { month: "short", day: "numeric" });
}

export function month(yyyyMm) {
  const [y, m] = yyyyMm.split("-").map(Number);
  return new Date(y, m - 1, 1).toLocaleDateString([], { month: "long", year: "numeric" });
}

/** A date's day on the phone's calendar, as YYYY-MM-DD. */
export const isoDay = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

/** Today on the phone's calendar (its local date, not UTC's). */
export const today = () => isoDay(new Date());

/** The day ``n`` days after today, on the phone's calendar. */
export function daysFromToday(n) {
  const d = new Date();
  return isoDay(new Date(d.getFullYear(), d.getMonth(), d.getDate() + n));
}

/** The phone's time now as a datetime-local input wants it (YYYY-MM-DDTHH:MM). */
export function localMinute(d = new Date()) {
  return `${isoDay(d)}T${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Replace an element's content (arrays flattened, nulls skipped). */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
