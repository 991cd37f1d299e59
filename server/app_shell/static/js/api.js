// HTTP to Doorstep with the device's bearer tokens (docs/api.md). What the protocol's error table
// says the app does is done here: token_invalid → refresh, then the same request again;
// device_revoked → wipe every local store and go to the login; 5xx, 429 and no answer → retried
// with exponential backoff (safe: every request the app sends may be sent twice).

import * as db from "./db.js";

export const APP_VERSION = "1.0";

export class Offline extends Error {
  constructor(message = "No connection") { super(message); this.name = "Offline"; }
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${code}: ${detail || status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export class DeviceRevoked extends ApiError {}
export class LoggedOut extends ApiError {}

const listeners = new Set();
/** ``fn(event)`` for "online", "offline" and "revoked". */
export function on(fn) { listeners.add(fn); }
function emit(event) { for (const fn of listeners) fn(event); }

let reachable = navigator.onLine;
export const isOnline = () => navigator.onLine && reachable;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function problem(response) {
  try {
    const body = await response.json();
    return { code: body.code || "unknown", detail: body.detail || "" };
  } catch {
    return { code: "unknown", detail: "" };
  }
}

async function send(method, path, { headers = {}, body, auth = true } = {}) {
  const h = { ...headers };
  if (auth) {
    const token = await db.meta("access_token");
    if (!token) throw new LoggedOut(401, "not_authenticated", "log in");
    h.Authorization = `Bearer ${token}`;
  }
  let response;
  try {
    response = await fetch(path, { method, headers: h, body, cache: "no-store", credentials: "omit" });
  } catch (error) {
    if (reachable) { reachable = false; emit("offline"); }
    throw new Offline(String(error && error.message ? error.message : error));
  }
  if (!reachable) { reachable = true; emit("online"); }
  return response;
}

let refreshing = null;

/** One refresh at a time: each refresh token works once (docs/api.md). No answer, a 5xx or a 429
 * keep the tokens, and the refresh is asked again at once, a few times, with the same token: the
 * server may have rotated it and the answer got lost, and asking again within its reuse grace
 * (30 s) answers the same pair. Only a refusal (a 4xx but 429) ends the session here. */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = await db.meta("refresh_token");
      if (!token) throw new LoggedOut(401, "not_authenticated", "log in");
      for (let attempt = 0; ; attempt++) {
        let response;
        try {
          response = await send("POST", "/auth/refresh", {
            auth: false, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
          });
        } catch (error) {
          if (!(error instanceof Offline) || attempt >= 3) throw error;
          await sleep(500 * 2 ** attempt);
          continue;
        }
        if (response.ok) {
          const pair = await response.json();
          await db.setMeta({ access_token: pair.access_token, refresh_token: pair.refresh_token });
          return;
        }
        const p = await problem(response);
        if (response.status >= 500 || response.status === 429) {
          if (attempt >= 3) throw new ApiError(response.status, p.code, p.detail);
          const wait = Number(response.headers.get("Retry-After")) * 1000 || 500 * 2 ** attempt;
          await sleep(Math.min(wait, 8000));
          continue;
        }
        if (p.code === "device_revoked") await revoked(p);
        await db.setMeta({ access_token: undefined, refresh_token: undefined });
        throw new LoggedOut(response.status, p.code, p.detail);
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function revoked(p) {
  await db.wipe();
  emit("revoked");
  throw new DeviceRevoked(401, p.code, p.detail);
}

/** A request with the device's token: refreshes once on token_invalid, wipes on device_revoked,
 * retries 5xx and 429 with backoff. Answers the Response for any other status. */
export async function request(method, path, options = {}, { retries = 3 } = {}) {
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    const response = await send(method, path, options);
    if (response.status === 401) {
      const p = await problem(response.clone());
      if (p.code === "device_revoked") await revoked(p);
      if (!refreshed && p.code === "token_invalid") {
        refreshed = true;
        await refresh();
        continue;
      }
      throw new LoggedOut(401, p.code, p.detail);
    }
    if ((response.status >= 500 || response.status === 429) && attempt < retries) {
      const wait = Number(response.headers.get("Retry-After")) * 1000 || 500 * 2 ** attempt;
      await sleep(Math.min(wait, 8000));
      continue;
    }
    return response;
  }
}

/** POST a JSON body; answers the JSON of a 2xx, raises ApiError otherwise. */
export async function postJson(path, body) {
  const response = await request("POST", path, { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) {
    const p = await problem(response);
    throw new ApiError(response.status, p.code, p.detail);
  }
  return response.status === 204 ? null : response.json();
}

export async function getJson(path) {
  const response = await request("GET", path);
  if (!response.ok) {
    const p = await problem(response);
    throw new ApiError(response.status, p.code, p.detail);
  }
  return response.json();
}

/** Log in, registering this browser as a device (a new id unless it has one); a different user
 * than the last one starts from an empty device. */
export async function login(username, password) {
  let deviceId = await db.meta("device_id");
  const known = await db.meta("user");
  if (known && known.username !== username) {
    await db.wipe();
    deviceId = null;
  }
  deviceId = deviceId || crypto.randomUUID();
  const device = { id: deviceId, name: "Doorstep web app", platform: "web", app_version: APP_VERSION };
  const response = await send("POST", "/auth/login", {
    auth: false, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password, device }),
  });
  if (!response.ok) {
    const p = await problem(response);
    throw new ApiError(response.status, p.code, p.detail);
  }
  const pair = await response.json();
  await db.setMeta({ device_id: deviceId, access_token: pair.access_token, refresh_token: pair.refresh_token });
  const user = await getJson("/users/me");
  await db.setMeta({ user });
  return user;
}
