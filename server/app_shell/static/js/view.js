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
      change(by, "follow_up", a.id, () => ({ status: "done", completed_at: a.at, completed_by: me, ...(a.note ? { note: a.note } : {}) }));
      break;
    case "follow_up.schedule": {
      const c = by.case && by.case.get(a.case_id);
      put(by, "follow_up", a.id, 1, {
        case_id: a.case_id, student_id: c ? c.data.student_id : null, kind: a.kind, title: a.title, due_on: a.due_on,
        status: "open", completed_at: null, completed_by: null, note: a.note ?? null, created_by: me, rescheduled: [],
        trigger_day: null,
      });
      break;
    }
    case "follow_up.reschedule":
      change(by, "follow_up", a.id, (d) => ({
        due_on: a.due_on, rescheduled: [...(d.rescheduled || []), { from: d.due_on, to: a.due_on, reason: a.reason, by: me }],
      }));
      break;
    case "visit_note.add_addendum":
      put(by, "visit_note_addendum", a.id, 1, { note_id: a.note_id, body: a.body, author_id: me });
      break;
    case "household.update":
      change(by, "household", a.id, () => ({ ...a.changes }));
      break;
    case "assessment.save": {
      const fields = {
        at: a.at, factors: a.factors, primary_factor: a.primary_factor ?? null, visit_log_id: a.visit_log_id ?? null,
        strengths: a.strengths ?? null, student_voice: a.student_voice ?? null, notes: a.notes ?? null,
      };
      if (by.assessment && by.assessment.has(a.id)) change(by, "assessment", a.id, () => fields);
      else put(by, "assessment", a.id, 1, { case_id: a.case_id, author_id: me, ...fields, flags: [] });
      break;
    }
    case "service_referral.create": {
      const resource = a.resource_id && by.resource ? by.resource.get(a.resource_id) : null;
      put(by, "service_referral", a.id, 1, {
        case_id: a.case_id, resource_id: a.resource_id ?? null,
        resource_name: a.resource_name ?? (resource ? resource.data.name : "A resource of the directory"),
        factor: a.factor ?? null, at: a.at, status: "made", status_at: a.at, note: a.note ?? null, created_by: me, flags: [],
      });
      break;
    }
    case "service_referral.update":
      change(by, "service_referral", a.id, () => ({ status: a.status, status_at: a.at, ...(a.note ? { note: a.note } : {}) }));
      break;
    case "parent_meeting.record":
      put(by, "parent_meeting", a.id, 1, {
        case_id: a.case_id, author_id: me, held_at: a.held_at, place: a.place, attendees: a.attendees,
        interpreter: a.interpreter, policy_discussed: a.policy_discussed, language: a.language ?? null,
        agreements: a.agreements ?? null, next_meeting_on: a.next_meeting_on ?? null, flags: [],
      });
      break;
    case "letter.request": {
      const c = by.case && by.case.get(a.case_id);
      put(by, "letter", a.id, 1, {
        case_id: a.case_id, student_id: c ? c.data.student_id : null, kind: a.kind, language: null, fallback: false,
        status: "requested", created_at: m.queued_at, created_by: me, as_of: null, note: a.note ?? null,
        body: a.body ?? null, mailed_at: null, returned_at: null, flags: [],
      });
      break;
    }
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
  resource_inactive: "The resource is no longer active",
  no_meeting_due: "No parent meeting was due",
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
  "assessment.save": "Assessment",
  "service_referral.create": "Referral",
  "service_referral.update": "Referral status",
  "parent_meeting.record": "Parent meeting",
  "follow_up.schedule": "Follow-up scheduled",
  "follow_up.reschedule": "Follow-up moved",
  "letter.request": "Letter asked for",
};

export const FOLLOW_UP_KINDS = {
  parent_meeting: "Parent meeting", follow_up: "Follow-up", phone_call: "Phone call", home_visit: "Home visit",
  school_meeting: "School meeting",
};

/** The kinds of letter a case manager asks for, in plain words, as the Ask-for-a-letter form offers
 * them (docs/letters.md, Kinds); ``LETTER_NAMES`` names them in a case's list of letters. */
export const LETTER_KINDS = {
  attendance_notice: "Early attendance notice",
  truancy_notice: "Truancy notice (invites to the parent meeting)",
  habitual_truancy_notice: "Habitual truancy notice",
  chronic_absence_notice: "Chronic absence notice",
  custom: "My own letter",
};

export const LETTER_NAMES = { ...LETTER_KINDS, truancy_notice: "Truancy notice", custom: "Own letter" };

export const PLACES = { home: "At home", school: "At school", phone: "By phone", video: "By video call", other: "Somewhere else" };

export const REFERRAL_STATUSES = { made: "Referred", connected: "Connected", not_connected: "Not connected", declined: "Declined" };

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

/** The case's open follow-ups, soonest due first: its ``follow_up`` records (with the phone's
 * changes laid over them) and what the case's ``follow_ups`` lists but the phone holds no record of. */
export function openFollowUps(view, caseRow) {
  const records = view.all("follow_up").filter((f) => f.data.case_id === caseRow.id);
  const known = new Set(records.map((f) => f.id));
  const open = records.filter((f) => f.data.status === "open").map((f) => ({ id: f.id, ...f.data, row: f }));
  for (const item of caseRow.data.follow_ups || []) if (!known.has(item.id)) open.push({ ...item, row: null });
  return open.sort((x, y) => (x.due_on < y.due_on ? -1 : x.due_on > y.due_on ? 1 : x.id < y.id ? -1 : 1));
}

/** The case's letters, newest first (a request not yet pushed is dated when it was queued). */
export function letters(view, caseId) {
  const at = (l) => Date.parse(l.data.created_at || "") || 0;
  return view.all("letter").filter((l) => l.data.case_id === caseId).sort((x, y) => at(y) - at(x) || (x.id < y.id ? -1 : 1));
}

/** The case's assessments, newest first. */
export function assessments(view, caseId) {
  return view.all("assessment").filter((a) => a.data.case_id === caseId).sort((x, y) => (x.data.at < y.data.at ? 1 : -1));
}

export function householdOf(view, caseRow) {
  const student = caseRow && view.get("student", caseRow.data.student_id);
  return student && student.data.household_id ? view.get("household", student.data.household_id) : null;
}

export function outcomeOf(m) {
  return outcome(m.result);
}
