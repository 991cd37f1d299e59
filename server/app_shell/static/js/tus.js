// A small tus 1.0.0 client of our own (docs/protocol.md, "Photos of signed forms: the upload"):
// POST creates the upload, PATCHes send the file in chunks with a sha256 checksum each, HEAD says
// where to resume. The upload's URL and offset are saved in IndexedDB after every step, so a lost
// connection or a closed app resumes from the server's offset, re-sending at most one chunk.

import * as api from "./api.js";
import * as db from "./db.js";

export const CHUNK = 512 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };

function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

const b64text = (text) => b64(new TextEncoder().encode(text));

export async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function offsetOf(url) {
  const response = await api.request("HEAD", url, { headers: TUS });
  if (response.status === 404 || response.status === 410) return null; // expired or gone: start again
  if (!response.ok) throw new api.ApiError(response.status, "upload_head", `HEAD answered ${response.status}`);
  return Number(response.headers.get("Upload-Offset"));
}

async function create(photo) {
  const metadata = [
    `form_photo_id ${b64text(photo.id)}`,
    `filename ${b64text(photo.name || "form")}`,
    `filetype ${b64text(photo.content_type)}`,
  ].join(",");
  const response = await api.request("POST", "/uploads", {
    headers: { ...TUS, "Upload-Length": String(photo.size), "Upload-Metadata": metadata },
  });
  if (response.status !== 201) {
    let code = "upload_create";
    try { code = (await response.json()).code || code; } catch { /* no body */ }
    throw new api.ApiError(response.status, code, `creating the upload answered ${response.status}`);
  }
  const url = new URL(response.headers.get("Location"), location.origin).pathname;
  await db.updatePhoto(photo.id, { upload_url: url, offset: 0, status: "uploading" });
  return url;
}

/** Send one photo's file, from wherever it stopped. */
export async function upload(photo) {
  let url = photo.upload_url;
  let offset = url ? await offsetOf(url) : null;
  if (offset === null) {
    url = await create(photo);
    offset = 0;
  }
  let tries = 0;
  while (offset < photo.size) {
    const chunk = await photo.blob.slice(offset, offset + CHUNK).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", chunk);
    const response = await api.request("PATCH", url, {
      headers: {
        ...TUS,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": `sha256 ${b64(digest)}`,
      },
      body: chunk,
    });
    if (response.status === 204) {
      offset = Number(response.headers.get("Upload-Offset"));
      await db.updatePhoto(photo.id, { offset });
      tries = 0;
      continue;
    }
    if (response.status === 422) { // the file was refused for good: say why, send it no more
      let code = "refused";
      try { code = (await response.json()).code || code; } catch { /* no body */ }
      await db.updatePhoto(photo.id, { status: "refused", error: code });
      return;
    }
    if (++tries > 4) throw new api.ApiError(response.status, "upload_patch", `PATCH answered ${response.status}`);
    if (response.status === 423) await new Promise((r) => setTimeout(r, 1000)); // another PATCH holds it
    const now = await offsetOf(url); // 409 offset_mismatch, 460 checksum_mismatch, …: ask where it is
    if (now === null) { url = await create(photo); offset = 0; } else { offset = now; }
  }
  await db.updatePhoto(photo.id, { status: "done", offset, blob: null });
}

/** Upload every photo not yet sent, oldest first. */
export async function uploadAll() {
  const waiting = (await db.photos()).filter((p) => p.status === "pending" || p.status === "uploading");
  waiting.sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  for (const photo of waiting) await upload(photo);
}
