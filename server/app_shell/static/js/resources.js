// The district's directory of resources, as the pull brought it (every case manager's phone holds
// all of it): which to suggest for a case, how far each is from the home, and a search. All of it
// works offline, from the records alone.

import { FACTOR_LABELS } from "./factors.js";
import { assessments, householdOf } from "./view.js";

const names = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "language" }) : null;

/** A language's name for a BCP 47 code ("es" → "Spanish"); the text itself when it is no code. */
export function languageName(code) {
  if (!code) return "";
  try {
    return (names && names.of(code)) || code;
  } catch {
    return code; // not a well-formed tag: a name typed by hand
  }
}

/** The primary language subtag ("pt-BR" → "pt"), or the lower-cased text when it is a name. */
function primary(language) {
  return String(language || "").trim().toLowerCase().split(/[-_]/)[0];
}

/** Does the resource serve families in this language (a code, or a name typed by hand)? */
export function speaks(resource, language) {
  const wanted = primary(language);
  if (!wanted) return true;
  return (resource.data.languages || []).some((l) => primary(l) === wanted || languageName(l).toLowerCase() === wanted);
}

/** Great-circle distance in miles (haversine), or null unless both have coordinates. */
export function miles(a, b) {
  const known = (p) => p && typeof p.latitude === "number" && typeof p.longitude === "number";
  if (!known(a) || !known(b)) return null;
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 3958.8 * Math.asin(Math.min(1, Math.sqrt(s)));
}

export const active = (view) => view.all("resource").filter((r) => r.data.active !== false);

export const byName = (x, y) => x.data.name.localeCompare(y.data.name);

/** What the app suggests for a case: the active resources that help with a factor of the case's
 * latest assessment and serve the household's language, nearest to the home first (those with no
 * position on the map after them). Answers {assessment, language, list: [{resource, matched, miles}]}. */
export function suggest(view, caseRow) {
  const [latest] = assessments(view, caseRow.id);
  const home = householdOf(view, caseRow);
  const language = home ? home.data.language : null;
  if (!latest) return { assessment: null, language, list: [] };
  const assessed = new Set(latest.data.factors || []);
  const list = active(view)
    .map((resource) => ({
      resource,
      matched: (resource.data.factors || []).filter((f) => assessed.has(f)),
      miles: miles(home && home.data, resource.data),
    }))
    .filter((s) => s.matched.length && speaks(s.resource, language));
  list.sort((x, y) => {
    if ((x.miles === null) !== (y.miles === null)) return x.miles === null ? 1 : -1;
    if (x.miles !== null && x.miles !== y.miles) return x.miles - y.miles;
    return y.matched.length - x.matched.length || byName(x.resource, y.resource);
  });
  return { assessment: latest, language, list };
}

/** Does the resource answer the search words (its name, a factor it helps with, a language it
 * speaks, its address or hours)? Every word must be found somewhere. */
export function matches(resource, query) {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const d = resource.data;
  const text = [
    d.name, d.address, d.hours,
    ...(d.factors || []).flatMap((f) => [f.replaceAll("_", " "), FACTOR_LABELS[f] || ""]),
    ...(d.languages || []).flatMap((l) => [l, languageName(l)]),
  ].join(" ").toLowerCase();
  return words.every((w) => text.includes(w));
}

/** "0.4 mi from home" and the like. */
export function distanceWords(m) {
  if (m === null || m === undefined) return "";
  return m < 0.1 ? "under 0.1 mi from home" : `${m < 10 ? m.toFixed(1) : Math.round(m)} mi from home`;
}

export const telHref = (phone) => `tel:${String(phone).replace(/[^0-9+]/g, "")}`;

/** A resource's website as a link that can only open a web page: a value with no http(s) scheme
 * ("www.example.org", or anything stranger) is taken as a host name over https. */
export function site(website) {
  const href = /^https?:\/\//i.test(website) ? website : `https://${website}`;
  let host = website;
  try {
    host = new URL(href).host.replace(/^www\./, "");
  } catch { /* shown as written */ }
  return { href, host };
}
