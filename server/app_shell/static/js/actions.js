// What the case manager does, as mutations in the durable queue (docs/protocol.md, Mutations).
// Each one is written to IndexedDB before the screen moves on; the sync sends it when it can.

import * as db from "./db.js";
import { sha256Hex } from "./tus.js";
import { build } from "./view.js";

const now = () => new Date().toISOString();

/** The phone's position, or null (denied, unavailable, or no fix within 15 s). */
export function locate() {
  if (!navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (p) => resolve(p.coords),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  });
}

function fix(coords, prefix = "") {
  if (!coords) return {};
  const out = {
    [`${prefix}latitude`]: coords.latitude,
    [`${prefix}longitude`]: coords.longitude,
    [`${prefix}accuracy_m`]: Math.max(0, coords.accuracy),
  };
  if (!prefix && typeof coords.altitude === "number") out.altitude_m = coords.altitude;
  return out;
}

export async function logContact(caseId, method, outcome, note) {
  const args = { id: crypto.randomUUID(), case_id: caseId, method, outcome, at: now() };
  if (note) args.note = note;
  return db.enqueue("contact_attempt.create", args);
}

export async function checkIn(caseId) {
  const coords = await locate();
  const id = crypto.randomUUID();
  await db.enqueue("visit_log.check_in", { id, case_id: caseId, at: now(), ...fix(coords) });
  return id;
}

export async function checkOut(visitId, outcome) {
  const coords = await locate();
  return db.enqueue("visit_log.check_out", { id: visitId, at: now(), outcome, ...fix(coords) });
}

/** Save the note's text (a new note if ``noteId`` is not known yet); answers the note's id. */
export async function saveNote(noteId, caseId, visitId, body) {
  const view = build(await db.snapshot());
  const note = noteId ? view.get("visit_note", noteId) : null;
  const id = noteId || crypto.randomUUID();
  const args = { id, case_id: caseId, body };
  if (visitId) args.visit_log_id = visitId;
  await db.enqueue("visit_note.save", args, note ? note.version : null);
  return id;
}

/** Save the text if it changed, then submit the note from the version the phone now shows. */
export async function submitNote(noteId, caseId, visitId, body) {
  let view = build(await db.snapshot());
  let note = noteId ? view.get("visit_note", noteId) : null;
  let id = noteId;
  if (!note || note.data.body !== body) {
    id = await saveNote(noteId, caseId, visitId, body);
    view = build(await db.snapshot());
    note = view.get("visit_note", id);
  }
  return db.enqueue("visit_note.submit", { id }, note.version);
}

/** Register a photo of a signed form and keep its file for the upload, in one transaction. */
export async function addPhoto(caseId, visitId, formType, file) {
  const buffer = await file.arrayBuffer();
  const sha256 = await sha256Hex(buffer);
  const id = crypto.randomUUID();
  const contentType = file.type || "application/octet-stream";
  const takenAt = new Date(file.lastModified || Date.now()).toISOString();
  const args = {
    id, case_id: caseId, form_type: formType, sha256, size: buffer.byteLength, content_type: contentType, taken_at: takenAt,
  };
  if (visitId) args.visit_log_id = visitId;
  const photo = {
    id, case_id: caseId, visit_log_id: visitId, form_type: formType, name: file.name, content_type: contentType,
    size: buffer.byteLength, sha256, blob: new Blob([buffer], { type: contentType }), status: "pending",
    upload_url: null, offset: 0, created_at: now(),
  };
  await db.enqueue("form_photo.register", args, null, photo);
  return id;
}

// --- the casework: assessments, referrals, the parent meeting, follow-ups --------------------------

/** ``date`` as ISO 8601 with the phone's own offset (2026-12-06T21:00:00-05:00), so the day the
 * server reads from it is the day on the phone's calendar, not the day in UTC. */
export function localIso(date = new Date()) {
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const zone = `${offset < 0 ? "-" : "+"}${pad(offset / 60)}:${pad(offset % 60)}`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`;
}

/** Only the optional fields that have a value: an empty text is left out (the server stores null). */
function given(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== undefined && v !== ""));
}

/** A new assessment (``existing`` null), or an edit of one from the version the phone shows. */
export async function saveAssessment(existing, caseId, { factors, primary_factor, visit_log_id, strengths, student_voice, notes }) {
  const args = {
    id: existing ? existing.id : crypto.randomUUID(),
    case_id: caseId,
    at: existing ? existing.data.at : now(),
    factors,
    ...given({ primary_factor, visit_log_id, strengths, student_voice, notes }),
  };
  await db.enqueue("assessment.save", args, existing ? existing.version : null);
  return args.id;
}

/** A referral to a resource of the directory (``resource_id``) or one named by hand. */
export async function refer(caseId, { resource_id, resource_name, factor, note }) {
  const id = crypto.randomUUID();
  await db.enqueue("service_referral.create", { id, case_id: caseId, at: now(), ...given({ resource_id, resource_name, factor, note }) });
  return id;
}

export async function updateReferral(referral, status) {
  return db.enqueue("service_referral.update", { id: referral.id, at: now(), status }, referral.version);
}

export async function recordMeeting(caseId, fields) {
  const id = crypto.randomUUID();
  const { held_at, place, attendees, interpreter, policy_discussed, language, agreements, next_meeting_on } = fields;
  const args = { id, case_id: caseId, held_at, place, attendees, interpreter, policy_discussed, ...given({ language, agreements, next_meeting_on }) };
  await db.enqueue("parent_meeting.record", args);
  return id;
}

export async function scheduleFollowUp(caseId, { kind, title, due_on, note }) {
  const id = crypto.randomUUID();
  await db.enqueue("follow_up.schedule", { id, case_id: caseId, kind, title, due_on, ...given({ note }) });
  return id;
}

/** Done, from the version the phone shows (the server wants it: a stale one goes to review). */
export async function completeFollowUp(followUp) {
  return db.enqueue("follow_up.complete", { id: followUp.id, at: now() }, followUp.version);
}

export async function moveFollowUp(followUp, dueOn, reason) {
  return db.enqueue("follow_up.reschedule", { id: followUp.id, due_on: dueOn, reason }, followUp.version);
}

export async function addAddendum(noteId, body) {
  const id = crypto.randomUUID();
  await db.enqueue("visit_note.add_addendum", { id, note_id: noteId, body });
  return id;
}

/** Ask the office for a letter to the family: it waits as ``requested`` for the office's next batch,
 * which writes it in the household's language (docs/letters.md). ``body`` only for ``custom``. */
export async function requestLetter(caseId, { kind, note, body }) {
  const id = crypto.randomUUID();
  await db.enqueue("letter.request", { id, case_id: caseId, kind, ...given({ note, body: kind === "custom" ? body : null }) });
  return id;
}

/** The household's fields that changed (an emptied one is cleared), from the version shown. */
export async function updateHousehold(household, changes) {
  return db.enqueue("household.update", { id: household.id, changes }, household.version);
}
