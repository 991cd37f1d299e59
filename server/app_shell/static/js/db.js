// Local state in IndexedDB, the rules of sync/client.py:
// - meta: device id, tokens, user, cursor, the last mutation id the server reflected, last sync,
//   and next_mutation_id (the counter: ids count up from 1 per device, never reused);
// - records: what the last pulls brought, by "type:id";
// - queue: every mutation, written before the app goes on; ``result`` is null until pushed;
// - photos: the file of each photo of a form, with its tus upload's state.
// Every change that belongs together is one transaction with "strict" durability: a page of
// changes with its cursor, a mutation with the counter, a photo with its registration.

const NAME = "doorstep";
const STORES = ["meta", "records", "queue", "photos"];
let opening = null;

export function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("meta");
        db.createObjectStore("records", { keyPath: "key" }).createIndex("type", "type");
        db.createObjectStore("queue", { keyPath: "id" });
        db.createObjectStore("photos", { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

export function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Run ``fn(stores)`` in one transaction; resolves with its value once the transaction is durable. */
export async function tx(names, mode, fn) {
  const db = await open();
  const t = db.transaction(names, mode, { durability: "strict" });
  const done = new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
  const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
  let value;
  try {
    value = await fn(stores);
  } catch (error) {
    try { t.abort(); } catch { /* already finished */ }
    await done.catch(() => {});
    throw error;
  }
  await done;
  return value;
}

export const key = (type, id) => `${type}:${id}`;

export async function meta(name) {
  return tx(["meta"], "readonly", ({ meta }) => req(meta.get(name)));
}

export async function allMeta() {
  return tx(["meta"], "readonly", async ({ meta }) => {
    const [keys, values] = await Promise.all([req(meta.getAllKeys()), req(meta.getAll())]);
    return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
  });
}

export async function setMeta(values) {
  return tx(["meta"], "readwrite", async ({ meta }) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) meta.delete(k);
      else meta.put(v, k);
    }
  });
}

/** Queue a mutation durably (with an optional photo, in the same transaction); answers its id. */
export async function enqueue(name, args, baseVersion = null, photo = null) {
  const stores = photo ? ["meta", "queue", "photos"] : ["meta", "queue"];
  return tx(stores, "readwrite", async ({ meta, queue, photos }) => {
    const id = (await req(meta.get("next_mutation_id"))) || 1;
    queue.put({ id, name, args, base_version: baseVersion, result: null, queued_at: new Date().toISOString() });
    meta.put(id + 1, "next_mutation_id");
    if (photo) photos.put(photo);
    return id;
  });
}

export async function queue() {
  return tx(["queue"], "readonly", ({ queue }) => req(queue.getAll()));
}

export async function pending(limit) {
  const all = await queue();
  return all.filter((m) => m.result === null).slice(0, limit);
}

/** Save a push's results in one transaction (a result already saved stays as it was). */
export async function savePush(results) {
  return tx(["queue"], "readwrite", async ({ queue }) => {
    for (const result of results) {
      const row = await req(queue.get(result.id));
      if (row && row.result === null) queue.put({ ...row, result });
    }
  });
}

/** Save a pull page with its cursor in one transaction; ``reset`` forgets every record first. */
export async function savePull(page) {
  return tx(["records", "meta"], "readwrite", async ({ records, meta }) => {
    if (page.reset) records.clear();
    for (const change of page.changes) {
      if (change.op === "put") {
        records.put({ key: key(change.type, change.id), type: change.type, id: change.id, version: change.version, data: change.data });
      } else {
        records.delete(key(change.type, change.id));
      }
    }
    meta.put(page.cursor, "cursor");
    meta.put(page.last_mutation_id, "server_last_mutation_id");
  });
}

export async function records() {
  return tx(["records"], "readonly", ({ records }) => req(records.getAll()));
}

export async function photos() {
  return tx(["photos"], "readonly", ({ photos }) => req(photos.getAll()));
}

export async function updatePhoto(id, changes) {
  return tx(["photos"], "readwrite", async ({ photos }) => {
    const row = await req(photos.get(id));
    if (row) photos.put({ ...row, ...changes });
  });
}

/** Everything at once, in one snapshot: what a screen is drawn from. */
export async function snapshot() {
  return tx(STORES, "readonly", async (s) => {
    const [keys, values, recs, q, ph] = await Promise.all([
      req(s.meta.getAllKeys()), req(s.meta.getAll()), req(s.records.getAll()), req(s.queue.getAll()), req(s.photos.getAll()),
    ]);
    return { meta: Object.fromEntries(keys.map((k, i) => [k, values[i]])), records: recs, queue: q, photos: ph };
  });
}

/** Forget everything: records, queue, photos, cursor, tokens, the device id (device_revoked). */
export async function wipe() {
  return tx(STORES, "readwrite", async (s) => {
    for (const name of STORES) s[name].clear();
  });
}
