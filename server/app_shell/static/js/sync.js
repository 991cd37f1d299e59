// The sync rules of sync/client.py (docs/protocol.md), on IndexedDB:
// - push sends the pending mutations oldest first, in batches, and saves each answer in one
//   transaction; a crash or a reload at any point only makes it send them again, and the server
//   answers already_processed with the first outcome;
// - then the photos' files go by tus (tus.js), resumed where they stopped;
// - pull fetches pages until has_more is false, saving each page with its cursor; reset forgets
//   the records, never the queue;
// - what the screens show is the records with the mutations the server has not reflected yet
//   laid over them (view.js): pending changes are rebased over every pull.
// One sync at a time, across tabs too (Web Locks).

import * as api from "./api.js";
import * as db from "./db.js";
import * as tus from "./tus.js";

export const SCHEMA_VERSION = 1;
const BATCH = 50;

export class SyncFailed extends Error {
  constructor(code, detail) { super(`${code}: ${detail}`); this.name = "SyncFailed"; this.code = code; }
}

async function clientId() {
  const id = await db.meta("device_id");
  if (!id) throw new api.LoggedOut(401, "not_authenticated", "log in");
  return id;
}

export async function push() {
  const client_id = await clientId();
  for (;;) {
    const rows = await db.pending(BATCH);
    if (!rows.length) return;
    const mutations = rows.map((m) => {
      const out = { id: m.id, name: m.name, args: m.args };
      if (m.base_version !== null && m.base_version !== undefined) out.base_version = m.base_version;
      return out;
    });
    const response = await api.postJson("/sync/push", { client_id, schema_version: SCHEMA_VERSION, mutations });
    await db.savePush(response.results);
    if (response.gap) {
      throw new SyncFailed("gap", `the server expects ${response.gap.expected}; this queue starts later`);
    }
  }
}

export async function pull() {
  const client_id = await clientId();
  for (;;) {
    const cursor = await db.meta("cursor");
    const body = { client_id, schema_version: SCHEMA_VERSION };
    if (cursor) body.cursor = cursor;
    const page = await api.postJson("/sync/pull", body);
    await db.savePull(page);
    if (!page.has_more) return;
  }
}

function locked(fn) {
  if (navigator.locks) return navigator.locks.request("doorstep-sync", fn);
  return fn();
}

let running = null;
let again = null;

/** Push, upload, pull; resolves when done (or rejects with Offline, LoggedOut, DeviceRevoked…).
 * Asked while one runs, one more runs after it: a change made meanwhile (a photo added while the
 * check-in was being pushed) may have missed the running one's push or upload. */
export function sync() {
  if (running) {
    again ??= running.catch(() => {}).then(() => { again = null; return sync(); });
    return again;
  }
  running = locked(async () => {
    await push();
    await tus.uploadAll();
    await pull();
    await db.setMeta({ last_sync: new Date().toISOString() });
  }).finally(() => { running = null; });
  return running;
}
