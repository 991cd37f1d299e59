// What the screens show: the pulled records with the phone's own changes laid over them.
// A mutation is laid over the records until a pull reflects it (its id at or below the pull's
// last_mutation_id), unless the server refused it or kept it as a conflict: that is the rebase of
// pending mutations over a pull. Each record says whether a change to it still waits ("pending").

const APPLIED = new Set(["applied"]);

function outcome(result) {
  if (!result) return null;
  return result.status === "already_processed" ? result.original || "applied" : result.status;
}

function table(records) {
  const by = {};
  for (const r of records) {
    (by[r.type] ||= new Map()).set(r.id, { id: r.id, version: r.version, data: { ...r.data }, pending: false });
  }
  return by;
}

function put(by, type, id, version, data) {
  (by[type] ||= new Map()).set(id, { id, version, data, pending: true });
}

function change(by, type, id, fn) {
  const row = by[type] && by[type].get(id);
  if (!row) return;
  by[type].set(id, { ...row, version: row.version + 1, data: { ...row.data, ...fn(row.data) }, pending: true });
}

function apply(by, m, me) {
  const a = m.args;
  switch (m.name) {
    case "contact_attempt.create":
      put(by, "contact_attempt", a.id, 1, {
        case_id: a.case_id, method: a.method, outcome: a.outcome, at: a.at, note: a.note ?? null, created_by: me,
      });
      break;
    case "visit_note.save":
      if (by.visit_note && by.visit_note.has(a.id)) {
        change(by, "visit_note", a.id, () => ({ body: a.body, ...(a.visit_log_id ? { visit_log_id: a.visit_log_id } : {}) }));
      } else {
        put(by, "visit_note", a.id, 1, {
          case_id: a.case_id, author_id: me, body: a.body, status: "draft", visit_log_id: a.visit_log_id ?? null,
          review_status: null, review_comment: null, reviewed_by: null, reviewed_at: null,
        });
      }
      break;
    case "visit_note.submit":
      change(by, "visit_note", a.id, () => ({ status: "submitted" }));
      break;
    case "visit_log.check_in":
      put(by, "visit_log", a.id, 1, {
        case_id: a.case_id, created_by: me, status: "open", checked_in_at: a.at,
        latitude: a.latitude ?? null, longitude: a.longitude ?? null, accuracy_m: a.accuracy_m ?? null,
        altitude_m: a.altitude_m ?? null, distance_m: null, checked_out_at: null, outcome: null, flags: [], truancy: null,
      });
      break;
    case "visit_log.check_out":
      change(by, "visit_log", a.id, () => ({ status: "checked_out", checked_out_at: a.at, outcome: a.outcome }));
      break;
    case "follow_up.complete":
      change(by, "follow_up", a.id, () => ({ status: "done", completed_at: a.at, completed_by: me, note: a.note ?? null }));
      break;
    case "form_photo.register":
      put(by, "form_photo", a.id, 1, {
        case_id: a.case_id, visit_log_id: a.visit_log_id ?? null, form_type: a.form_type, sha256: a.sha256,
        size: a.size, content_type: a.content_type, taken_at: a.taken_at, created_by: me, upload_status: "pending",
      });
      break;
    default:
      break;
  }
}

/** The screens' data from one IndexedDB snapshot (db.snapshot()). */
export function build({ meta, records, queue, photos }) {
  const me = meta.user ? meta.user.id : null;
  const by = table(records);
  const reflected = meta.server_last_mutation_id || 0;
  const waiting = [];
  for (const m of [...queue].sort((x, y) => x.id - y.id)) {
    const status = outcome(m.result);
    if (status === null) waiting.push(m);
    if (m.id <= reflected) continue;
    if (status === null || APPLIED.has(status)) apply(by, m, me);
  }
  const all = (type) => [...(by[type] || new Map()).values()];
  return {
    me,
    meta,
    by,
    all,
    get: (type, id) => (by[type] && by[type].get(id)) || null,
    queue,
    waiting,
    photos,
    unsentPhotos: photos.filter((p) => p.status === "pending" || p.status === "uploading"),
  };
}

// --- words for the screens ------------------------------------------------------------------------

export const CASE_STATUSES = ["active", "contacting", "assigned", "monitoring", "referred", "closed"];

export const TRUANCY_WORDS = {
  habitual: "Habitual truant",
  truant: "Truant",
  chronic: "Chronically absent",
  none: "Not truant",
};

export const RULE_WORDS = { monthly: "monthly rule", yearly: "yearly rule", habitual: "habitual rule", chronic: "chronic absence" };

export const METHODS = { phone: "Phone call", letter: "Letter", home_visit: "Home visit" };

export const OUTCOMES = {
  reached: "Reached", no_answer: "No answer", left_message: "Left a message", wrong_contact: "Wrong contact",
  letter_sent: "Letter sent", letter_returned: "Letter returned", family_met: "Met the family",
  no_one_home: "No one home", refused: "Refused", moved: "Moved",
};

export const VISIT_OUTCOMES = ["family_met", "no_one_home", "refused", "moved"];

export const FORM_TYPES = {
  consent: "Consent", release_of_information: "Release of information",
  attendance_contract: "Attendance contract", other: "Other form",
};

export const FLAG_WORDS = {
  location_mismatch: "Location far from the home",
  location_missing: "No location at check-in",
  location_low_accuracy: "Location not accurate enough",
  home_not_geocoded: "The home has no map position",
  case_reassigned: "Case reassigned to someone else",
  case_closed: "Case closed",
  outside_case_period: "Outside the case's open period",
  time_in_future: "Time in the future",
};

export const MUTATION_WORDS = {
  "contact_attempt.create": "Contact logged",
  "visit_note.save": "Note saved",
  "visit_note.submit": "Note submitted",
  "visit_note.add_addendum": "Addendum",
  "visit_log.check_in": "Checked in",
  "visit_log.check_out": "Checked out",
  "follow_up.complete": "Follow-up done",
  "form_photo.register": "Photo of a form",
  "household.update": "Household changed",
};

export const CONFLICT_WORDS = {
  stale_base: "changed on the server meanwhile",
  frozen: "already submitted",
  edit_vs_delete: "deleted on the server meanwhile",
  duplicate_id: "sent twice with different content",
  edited_after_approval: "already approved",
};

export function studentName(view, caseRow) {
  const student = caseRow && view.get("student", caseRow.data.student_id);
  if (!student) return "Student";
  return `${student.data.first_name} ${student.data.last_name}`;
}

export function outcomeOf(m) {
  return outcome(m.result);
}
