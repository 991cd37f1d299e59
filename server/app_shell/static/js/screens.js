// The screens, each drawn from the view (view.js) into <main>. Every control has a <label>;
// buttons say what they do; each case in the caseload links by its id.

import * as actions from "./actions.js";
import { day, field, h, month, select, show, time, today } from "./dom.js";
import {
  CASE_STATUSES, CONFLICT_WORDS, FLAG_WORDS, FORM_TYPES, METHODS, MUTATION_WORDS, OUTCOMES, RULE_WORDS,
  TRUANCY_WORDS, VISIT_OUTCOMES, outcomeOf, studentName,
} from "./view.js";

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const pendingTag = (row) => (row && row.pending ? h("span", { class: "pending-tag" }, " · waiting to sync") : null);

function truancyBadge(truancy) {
  if (!truancy) return h("span", { class: "badge unknown" }, "No evaluation yet");
  const fired = truancy.rules.filter((r) => r === "monthly" || r === "yearly").map((r) => RULE_WORDS[r]);
  const words = TRUANCY_WORDS[truancy.status] || truancy.status;
  const detail = truancy.status === "truant" && fired.length ? ` (${fired.join(", ")})` : "";
  return h("span", { class: `badge ${truancy.status}` }, words + detail);
}

function nextFollowUp(caseRow) {
  const open = caseRow.data.follow_ups || [];
  if (!open.length) return h("span", {}, "No open follow-ups");
  const next = open[0];
  const late = next.due_on < today();
  return h("span", { class: late ? "overdue" : null }, `Next: ${next.title} · ${late ? "overdue since" : "due"} ${day(next.due_on)}`);
}

// --- log in -----------------------------------------------------------------------------------------

export function login(main, { message, error, onSubmit }) {
  const username = h("input", { type: "text", name: "username", autocomplete: "username", autocapitalize: "none", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const problem = h("p", { role: "alert", class: error ? "error" : null }, error || "");
  const button = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        problem.textContent = "";
        problem.className = "";
        try {
          await onSubmit(username.value.trim(), password.value);
        } catch (e) {
          problem.textContent = e.message;
          problem.className = "error";
          button.disabled = false;
        }
      },
    },
    field("Username", username),
    field("Password", password),
    h("div", { class: "actions" }, button),
  );
  show(main, 
    h("h1", {}, "Log in"),
    message ? h("p", { class: "notice" }, message) : null,
    h("p", { class: "meta" }, "Logging in registers this phone as your device. After the first sync the app works with no signal."),
    problem,
    form,
  );
  username.focus();
}

// --- caseload ---------------------------------------------------------------------------------------

export function caseload(main, view) {
  const cases = view.all("case");
  const groups = CASE_STATUSES.map((status) => [status, cases.filter((c) => c.data.status === status)]).filter(
    ([, list]) => list.length,
  );
  const body = groups.map(([status, list]) => [
    h("h2", {}, `${cap(status)} (${list.length})`),
    h(
      "ul",
      { class: "cases" },
      list
        .sort((a, b) => studentName(view, a).localeCompare(studentName(view, b)))
        .map((c) =>
          h(
            "li",
            {},
            h(
              "a",
              { class: "case-link", href: `#/case/${c.id}`, dataset: { caseId: c.id } },
              h("span", { class: "case-name" }, studentName(view, c)),
              h("br"),
              truancyBadge(c.data.truancy),
              h("br"),
              h("span", { class: "meta" }, nextFollowUp(c)),
            ),
          ),
        ),
    ),
  ]);
  show(main, 
    h("h1", {}, "Today's caseload"),
    cases.length ? body : h("p", { class: "empty" }, view.meta.cursor ? "No cases are assigned to you." : "Nothing synced yet: sync when you have a signal."),
  );
}

// --- a case -----------------------------------------------------------------------------------------

function attendance(truancy) {
  if (!truancy) return h("p", { class: "empty" }, "No evaluation yet.");
  return [
    h("p", {}, truancyBadge(truancy)),
    h(
      "p",
      { class: "meta" },
      `${truancy.unexcused} unexcused of ${truancy.absences} absences (${truancy.absence_percent}% of school days), ${truancy.school_year}, as of ${day(truancy.as_of)}`,
    ),
    h(
      "table",
      {},
      h("caption", { class: "meta" }, "Attendance by month"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Month"), h("th", { scope: "col", class: "num" }, "Absences"), h("th", { scope: "col", class: "num" }, "Unexcused"))),
      h(
        "tbody",
        {},
        truancy.months.map((m) =>
          h("tr", {}, h("th", { scope: "row" }, month(m.month)), h("td", { class: "num" }, m.absences), h("td", { class: "num" }, m.unexcused)),
        ),
      ),
    ),
  ];
}

function household(view, caseRow) {
  const student = view.get("student", caseRow.data.student_id);
  const home = student && student.data.household_id ? view.get("household", student.data.household_id) : null;
  if (!home) return h("p", { class: "empty" }, "No household on record.");
  const phones = [home.data.phone, home.data.alt_phone].filter(Boolean);
  return [
    home.data.address ? h("p", {}, home.data.address) : null,
    phones.length ? h("p", {}, phones.map((p) => h("a", { class: "tel", href: `tel:${p.replace(/[^0-9+]/g, "")}` }, `Call ${p}`))) : h("p", { class: "empty" }, "No phone number."),
    home.data.language ? h("p", { class: "meta" }, `Language: ${home.data.language}`) : null,
  ];
}

function contactForm(caseId, onDone) {
  const method = select("method", METHODS, "phone");
  const outcome = select("outcome", OUTCOMES, "reached");
  const note = h("textarea", { name: "note", rows: 3 });
  return h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        await actions.logContact(caseId, method.value, outcome.value, note.value.trim());
        onDone("Contact logged.");
      },
    },
    h("h3", {}, "Log a contact"),
    field("Method", method),
    field("Outcome", outcome),
    field("Contact note", note),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Log contact")),
  );
}

function noteCard(note) {
  return h(
    "div",
    { class: "card" },
    h("p", {}, h("strong", {}, `Note · ${note.data.status}`), pendingTag(note)),
    note.data.status === "returned" && note.data.review_comment ? h("p", { class: "error" }, `Returned: ${note.data.review_comment}`) : null,
    h("p", {}, note.data.body || h("em", {}, "(empty)")),
  );
}

export function caseScreen(main, view, caseId, onDone) {
  const c = view.get("case", caseId);
  if (!c) {
    show(main, h("a", { class: "back", href: "#/" }, "← Caseload"), h("p", { class: "empty" }, "This case is not on this phone."));
    return;
  }
  const student = view.get("student", c.data.student_id);
  const contacts = view.all("contact_attempt").filter((a) => a.data.case_id === caseId).sort((a, b) => (a.data.at < b.data.at ? 1 : -1));
  const visits = view.all("visit_log").filter((v) => v.data.case_id === caseId).sort((a, b) => (a.data.checked_in_at < b.data.checked_in_at ? 1 : -1));
  const notes = view.all("visit_note").filter((n) => n.data.case_id === caseId);
  const open = visits.find((v) => v.data.status === "open" && v.data.created_by === view.me);
  show(main, 
    h("a", { class: "back", href: "#/" }, "← Caseload"),
    h("h1", {}, studentName(view, c)),
    h("p", { class: "meta" }, `Case ${c.data.status}`, student ? ` · Student ${student.data.student_number} · Grade ${student.data.grade}` : ""),
    h("p", {}, h("a", { class: "tel", href: `#/case/${caseId}/visit` }, open ? "Continue the home visit" : "Start a home visit")),
    h("h2", {}, "Truancy"),
    attendance(c.data.truancy),
    h("h2", {}, "Household"),
    household(view, c),
    h("h2", {}, "Open follow-ups"),
    (c.data.follow_ups || []).length
      ? h("ul", { class: "plain" }, c.data.follow_ups.map((f) => h("li", { class: "card" }, f.title, h("br"), h("span", { class: f.due_on < today() ? "overdue" : "meta" }, `Due ${day(f.due_on)}`))))
      : h("p", { class: "empty" }, "None."),
    h("h2", {}, "Contact attempts"),
    contactForm(caseId, onDone),
    contacts.length
      ? h("ul", { class: "plain" }, contacts.map((a) => h("li", { class: "card" }, h("strong", {}, `${METHODS[a.data.method] || a.data.method}: ${OUTCOMES[a.data.outcome] || a.data.outcome}`), pendingTag(a), h("br"), h("span", { class: "meta" }, time(a.data.at)), a.data.note ? h("p", {}, a.data.note) : null)))
      : h("p", { class: "empty" }, "No contact attempts yet."),
    h("h2", {}, "Visits and notes"),
    visits.length || notes.length
      ? [
          visits.map((v) =>
            h(
              "div",
              { class: "card" },
              h("p", {}, h("a", { href: `#/visit/${v.id}` }, `Visit ${time(v.data.checked_in_at)}`), ` · ${v.data.status === "open" ? "checked in" : OUTCOMES[v.data.outcome] || "checked out"}`, pendingTag(v)),
              (v.data.flags || []).length ? h("p", { class: "flag" }, v.data.flags.map((f) => FLAG_WORDS[f] || f).join(" · ")) : null,
              notes.filter((n) => n.data.visit_log_id === v.id).map(noteCard),
            ),
          ),
          notes.filter((n) => !n.data.visit_log_id || !visits.some((v) => v.id === n.data.visit_log_id)).map(noteCard),
        ]
      : h("p", { class: "empty" }, "No visits yet."),
  );
}

// --- a home visit -----------------------------------------------------------------------------------

export function visitScreen(main, view, { caseId, visitId }, onDone) {
  let visit = visitId ? view.get("visit_log", visitId) : null;
  caseId = caseId || (visit && visit.data.case_id);
  const c = view.get("case", caseId);
  if (!visit) {
    visit = view.all("visit_log").find((v) => v.data.case_id === caseId && v.data.status === "open" && v.data.created_by === view.me) || null;
  }
  const head = [
    h("a", { class: "back", href: `#/case/${caseId}` }, "← Case"),
    h("h1", {}, "Home visit"),
    h("p", { class: "meta" }, c ? studentName(view, c) : ""),
  ];
  if (!visit) {
    const button = h("button", { type: "button" }, "Check in");
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Finding your location…";
      const id = await actions.checkIn(caseId);
      history.replaceState(null, "", `#/visit/${id}`);
      onDone("Checked in.");
    });
    show(main, ...head, h("p", {}, "Check in when you arrive: the app records where the phone is and how accurate that is."), h("div", { class: "actions" }, button));
    return;
  }
  const v = visit.data;
  const where = v.latitude !== null && v.latitude !== undefined ? `location within ${Math.round(v.accuracy_m)} m` : "no location";
  const note = view.all("visit_note").find((n) => n.data.visit_log_id === visit.id) || null;
  const locked = note && (note.data.status === "submitted" || note.data.status === "approved");
  const body = h("textarea", { name: "note", rows: 8, readonly: locked || null }, note ? note.data.body : "");
  const noteForm = h(
    "form",
    { onsubmit: (e) => e.preventDefault() },
    h("h2", {}, "Note"),
    note ? h("p", { class: "meta" }, `Status: ${note.data.status}`, pendingTag(note)) : null,
    note && note.data.status === "returned" && note.data.review_comment ? h("p", { class: "error" }, `Returned by your supervisor: ${note.data.review_comment}`) : null,
    field("Visit note", body),
    locked
      ? h("p", { class: "notice" }, note.data.status === "approved" ? "Approved: the note is locked." : "Submitted for review.")
      : h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: async () => { await actions.saveNote(note && note.id, caseId, visit.id, body.value); onDone("Note saved."); } }, "Save"),
          h("button", { type: "button", onclick: async () => { await actions.submitNote(note && note.id, caseId, visit.id, body.value); onDone("Note submitted."); } }, "Submit"),
        ),
  );
  const formType = select("form_type", FORM_TYPES, "consent");
  const file = h("input", { type: "file", name: "photo", accept: "image/*,application/pdf", capture: "environment" });
  const photoProblem = h("p", { role: "alert" });
  const photos = view.all("form_photo").filter((p) => p.data.visit_log_id === visit.id);
  const local = new Map(view.photos.map((p) => [p.id, p]));
  const photoForm = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        if (!file.files.length) {
          photoProblem.textContent = "Take or choose a photo first.";
          photoProblem.className = "error";
          return;
        }
        await actions.addPhoto(caseId, visit.id, formType.value, file.files[0]);
        onDone("Photo added.");
      },
    },
    h("h2", {}, "Signed forms"),
    photos.length
      ? h("ul", { class: "plain" }, photos.map((p) => h("li", { class: "card" }, `${FORM_TYPES[p.data.form_type] || p.data.form_type} · ${photoState(p, local.get(p.id))}`)))
      : h("p", { class: "empty" }, "No photos yet."),
    field("Form type", formType),
    field("Photo of the signed form", file),
    photoProblem,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add photo")),
  );
  let out;
  if (v.status === "open") {
    const outcome = select("outcome", Object.fromEntries(VISIT_OUTCOMES.map((o) => [o, OUTCOMES[o]])), "family_met");
    const button = h("button", { type: "submit" }, "Check out");
    out = h(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          button.disabled = true;
          await actions.checkOut(visit.id, outcome.value);
          onDone("Checked out.");
        },
      },
      h("h2", {}, "Check out"),
      field("Visit outcome", outcome),
      h("div", { class: "actions" }, button),
    );
  } else {
    out = h("p", { class: "notice" }, `Checked out ${time(v.checked_out_at)} · ${OUTCOMES[v.outcome] || v.outcome}`);
  }
  show(main, 
    ...head,
    h("p", { class: "card" }, `Checked in ${time(v.checked_in_at)} · ${where}`, pendingTag(visit)),
    (v.flags || []).length ? h("p", { class: "flag" }, v.flags.map((f) => FLAG_WORDS[f] || f).join(" · ")) : null,
    noteForm,
    photoForm,
    out,
  );
}

function photoState(record, local) {
  if (record.data.upload_status === "received") return "received";
  if (record.data.upload_status === "refused") return `refused (${record.data.upload_error})`;
  if (!local) return record.data.upload_status;
  if (local.status === "done") return "sent";
  if (local.status === "refused") return `refused (${local.error})`;
  const kb = (n) => `${Math.round(n / 1024)} KB`;
  return local.offset ? `sending, ${kb(local.offset)} of ${kb(local.size)}` : "waiting to send";
}

// --- outbox -----------------------------------------------------------------------------------------

function describe(view, m) {
  const a = m.args || {};
  let caseId = a.case_id;
  if (!caseId && a.id) {
    for (const type of ["visit_log", "visit_note", "follow_up"]) {
      const row = view.get(type, a.id);
      if (row) caseId = row.data.case_id;
    }
  }
  const c = caseId ? view.get("case", caseId) : null;
  return `${MUTATION_WORDS[m.name] || m.name}${c ? ` · ${studentName(view, c)}` : ""} · ${time(m.queued_at)}`;
}

// How the office resolved a conflict (the pulled row's ``status`` and ``resolution``), or that it waits.
const RESOLUTION_WORDS = {
  theirs: "the office kept the version on the server",
  mine: "the office kept your change",
  custom: "the office combined the two",
};

function conflictState(data) {
  if (data.status !== "resolved" || !data.resolution) return "Your change was kept and went to the office for review; nothing to redo.";
  const how = RESOLUTION_WORDS[data.resolution.choice] || data.resolution.choice;
  return `Resolved${data.resolved_at ? ` ${time(data.resolved_at)}` : ""}: ${how}${data.resolution.note ? ` (“${data.resolution.note}”)` : ""}.`;
}

function section(title, items, empty) {
  return [h("h2", {}, `${title} (${items.length})`), items.length ? h("ul", { class: "plain" }, items) : h("p", { class: "empty" }, empty)];
}

export function outbox(main, view) {
  const waiting = view.waiting.map((m) => h("li", { class: "card" }, describe(view, m)));
  const photos = view.photos
    .filter((p) => p.status !== "done")
    .map((p) => h("li", { class: "card" }, `${FORM_TYPES[p.form_type] || p.form_type} · ${photoState({ data: { upload_status: "pending" } }, p)}`));
  const rejected = view.queue
    .filter((m) => outcomeOf(m) === "rejected")
    .map((m) => h("li", { class: "card" }, h("strong", {}, describe(view, m)), h("p", { class: "error" }, `Rejected: ${m.result.error ? m.result.error.code : "?"}${m.result.error && m.result.error.detail ? ` (${m.result.error.detail})` : ""}`)));
  const flagged = new Map();
  for (const v of view.all("visit_log")) if (v.data.created_by === view.me && (v.data.flags || []).length) flagged.set(v.id, v.data.flags);
  for (const m of view.queue) {
    if (m.name.startsWith("visit_log.") && m.result && (m.result.flags || []).length && !flagged.has(m.args.id)) flagged.set(m.args.id, m.result.flags);
  }
  const flags = [...flagged].map(([id, list]) => {
    const v = view.get("visit_log", id);
    const c = v ? view.get("case", v.data.case_id) : null;
    return h("li", { class: "card" }, h("a", { href: `#/visit/${id}` }, `Visit${c ? ` · ${studentName(view, c)}` : ""}${v ? ` · ${time(v.data.checked_in_at)}` : ""}`), h("p", { class: "flag" }, list.map((f) => FLAG_WORDS[f] || f).join(" · ")));
  });
  const returned = view
    .all("visit_note")
    .filter((n) => n.data.status === "returned")
    .map((n) => {
      const c = view.get("case", n.data.case_id);
      const href = n.data.visit_log_id ? `#/visit/${n.data.visit_log_id}` : `#/case/${n.data.case_id}`;
      return h("li", { class: "card" }, h("a", { href }, `Note · ${c ? studentName(view, c) : "a case"}`), h("p", {}, `Supervisor's comment: ${n.data.review_comment || "(none)"}`));
    });
  const conflicts = view.all("conflict").map((k) =>
    h("li", { class: "card" }, h("strong", {}, `${k.data.record_type.replace("_", " ")}: ${CONFLICT_WORDS[k.data.kind] || k.data.kind}`), h("p", { class: "meta" }, conflictState(k.data))),
  );
  show(main, 
    h("h1", {}, "Outbox"),
    section("Waiting to sync", waiting, "Nothing waiting."),
    section("Photos to send", photos, "No photos waiting."),
    section("Rejected", rejected, "Nothing rejected."),
    section("Flags", flags, "No flags."),
    section("Returned notes", returned, "No returned notes."),
    section("Conflicts", conflicts, "No conflicts."),
  );
}
