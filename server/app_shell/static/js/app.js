// The field app's entry: routes by the URL's hash, keeps the status line (online, last sync,
// changes waiting) up to date, and syncs when it can: at start, when the network comes back,
// after each change, every 30 s, and on "Sync now".

import * as api from "./api.js";
import * as casework from "./casework.js";
import * as db from "./db.js";
import { h, time } from "./dom.js";
import * as screens from "./screens.js";
import * as sync from "./sync.js";
import { build } from "./view.js";

const main = document.getElementById("view");
const nav = document.getElementById("nav");
const syncButton = document.getElementById("sync-now");
let view = null;
let dirty = false; // the user is typing: a background sync does not redraw the screen under her
let problem = "";
let flash = null; // {message, hash}: what a form did ("Assessment saved."), said on the screen it went to
let loginMessage = "";
let syncing = false;

main.addEventListener("input", () => { dirty = true; });

async function refreshView() {
  view = build(await db.snapshot());
  return view;
}

function loggedIn() {
  return Boolean(view && view.meta.device_id && (view.meta.access_token || view.meta.refresh_token));
}

function status() {
  const net = document.getElementById("net");
  const online = api.isOnline();
  net.textContent = online ? "Online" : "Offline";
  net.className = `net ${online ? "online" : "offline"}`;
  const last = view && view.meta.last_sync;
  const lastSync = document.getElementById("last-sync");
  if (syncing) lastSync.replaceChildren("Syncing…");
  else if (last) lastSync.replaceChildren("Last sync ", h("time", { datetime: last }, time(last)));
  else lastSync.replaceChildren("Not synced yet");
  if (problem) lastSync.append(` · ${problem}`);
  const count = view ? view.waiting.length + view.unsentPhotos.length : 0;
  const pending = document.getElementById("pending");
  pending.textContent = count === 0 ? "No changes waiting" : count === 1 ? "1 change waiting" : `${count} changes waiting`;
  pending.dataset.count = String(count);
  document.getElementById("outbox-link").textContent = count ? `Outbox (${count})` : "Outbox";
}

function render() {
  dirty = false;
  const signedIn = loggedIn();
  nav.hidden = !signedIn;
  syncButton.hidden = !signedIn;
  status();
  // Signed out, the sync line says nothing useful, unless changes still wait for the next log in.
  const pending = document.getElementById("pending");
  document.getElementById("last-sync").hidden = !signedIn;
  pending.hidden = !signedIn && pending.dataset.count === "0";
  if (!signedIn) {
    screens.login(main, { message: loginMessage, onSubmit: logIn });
    return;
  }
  const route = location.hash.replace(/^#\/?/, "").split("/");
  for (const link of nav.querySelectorAll("a")) {
    const here = (route[0] || "") === link.getAttribute("href").replace(/^#\/?/, "");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const [where, id, what, which] = route;
  if (where === "case" && what === "visit") screens.visitScreen(main, view, { caseId: id }, done);
  else if (where === "case" && what === "assess") casework.assessScreen(main, view, { caseId: id, assessmentId: which }, done);
  else if (where === "case" && what === "refer") casework.referScreen(main, view, { caseId: id }, done);
  else if (where === "case" && what === "meeting") casework.meetingScreen(main, view, { caseId: id }, done);
  else if (where === "case" && what === "follow-up") casework.followUpScreen(main, view, { caseId: id }, done);
  else if (where === "case" && what === "letter") casework.letterScreen(main, view, { caseId: id }, done);
  else if (where === "case" && what === "household") casework.householdScreen(main, view, { caseId: id }, done);
  else if (where === "follow-up" && what === "move") casework.moveScreen(main, view, { followUpId: id }, done);
  else if (where === "note" && what === "addendum") casework.addendumScreen(main, view, { noteId: id }, done);
  else if (where === "visit") screens.visitScreen(main, view, { visitId: id }, done);
  else if (where === "case") screens.caseScreen(main, view, id, done);
  else if (where === "outbox") screens.outbox(main, view);
  else if (where === "resources") casework.resourcesScreen(main, view);
  else screens.caseload(main, view);
  if (flash && flash.hash === location.hash) main.prepend(h("p", { class: "notice", role: "status" }, flash.message));
  else flash = null;
}

/** After the user's change is in the queue: redraw and send it soon. A form names where it goes
 * next (``target``, its case, in place of the form in the history), and what it did is said there. */
async function done(message = "", target = null) {
  const moving = target && target !== location.hash;
  if (target) {
    history.replaceState(null, "", target);
    flash = { message, hash: target };
  }
  await refreshView();
  render();
  if (moving) window.scrollTo(0, 0);
  soon(200);
}

async function logIn(username, password) {
  try {
    await api.login(username, password);
  } catch (error) {
    if (error instanceof api.Offline) throw new Error("No connection: logging in needs a signal.");
    if (error.code === "invalid_credentials") throw new Error("Wrong username or password.");
    if (error.code === "rate_limited") throw new Error("Too many tries: wait a few minutes.");
    throw new Error(error.message);
  }
  loginMessage = "";
  await refreshView();
  location.hash = "#/";
  render();
  await runSync();
}

let timer = null;
function soon(ms = 300) {
  clearTimeout(timer);
  timer = setTimeout(runSync, ms);
}

async function runSync() {
  if (!loggedIn()) return;
  syncing = true;
  status();
  try {
    await sync.sync();
    problem = "";
  } catch (error) {
    if (error instanceof api.Offline) problem = "";
    else if (error instanceof api.DeviceRevoked) return;
    else if (error instanceof api.LoggedOut) {
      await db.setMeta({ access_token: undefined, refresh_token: undefined });
      loginMessage = "Your session ended: log in again. Changes waiting on this phone are kept.";
    } else problem = `Sync failed: ${error.message}`;
  } finally {
    syncing = false;
  }
  await refreshView();
  if (dirty && loggedIn()) status();
  else render();
}

api.on(async (event) => {
  if (event === "revoked") {
    loginMessage = "This device was revoked, so everything the app kept on it was erased. Log in again to start afresh.";
    await refreshView();
    render();
  } else {
    status();
  }
});

syncButton.addEventListener("click", () => runSync());
window.addEventListener("hashchange", render);
window.addEventListener("online", () => { status(); soon(0); });
window.addEventListener("offline", status);
setInterval(() => { if (api.isOnline() || navigator.onLine) soon(0); }, 30000);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {});
}

await refreshView();
render();
document.documentElement.dataset.ready = String(Math.round(performance.now())); // ms from navigation to the first screen
if (loggedIn() && navigator.onLine) soon(0);
