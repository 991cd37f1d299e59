// The screens, each drawn from the view (view.js) into <main>. Every control has a <label>;
// buttons say what they do; each case in the caseload links by its id.

import * as actions from "./actions.js";
import { day, field, h, isoDay, month, select, show, time, today } from "./dom.js";
import { FACTOR_LABELS } from "./factors.js";
import { languageName, telHref } from "./resources.js";
import {
  CONFLICT_WORDS, FLAG_WORDS, FOLLOW_UP_KINDS, FORM_TYPES, LETTER_NAMES, METHODS, MUTATION_WORDS, OUTCOMES, PLACES,
  REFERRAL_STATUSES, RULE_WORDS, TRUANCY_WORDS, VISIT_OUTCOMES, assessments, householdOf, letters, openFollowUps,
  outcomeOf, studentName,
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

const flagWords = (flags) => (flags || []).map((f) => FLAG_WORDS[f] || f).join(" · ");
const flagLine = (row) => ((row.data.flags || []).length ? h("p", { class: "flag" }, flagWords(row.data.flags)) : null);

/** Overdue: due before today on the phone's calendar. Said in words, not by colour alone. */
const overdue = (item) => item.due_on < today();

function nextFollowUp(next) {
  if (!next) return h("span", {}, "No open follow-ups");
  const late = overdue(next);
  return h(
    "span",
    { class: late ? "overdue" : null },
    late ? h("strong", { class: "overdue-tag" }, "Overdue") : null,
    `${late ? " " : ""}Next: ${next.title} · ${late ? "was due" : "due"} ${day(next.due_on)}`,
  );
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
  const cases = view.all("case").map((c) => ({ c, next: openFollowUps(view, c)[0] || null, name: studentName(view, c) }));
  // Soonest due follow-up first, cases with none after them; closed cases at the end.
  const order = (x, y) =>
    (x.next === null) - (y.next === null) || (x.next && y.next && x.next.due_on !== y.next.due_on ? (x.next.due_on < y.next.due_on ? -1 : 1) : 0) || x.name.localeCompare(y.name);
  const open = cases.filter((x) => x.c.data.status !== "closed").sort(order);
  const closed = cases.filter((x) => x.c.data.status === "closed").sort(order);
  const late = open.filter((x) => x.next && overdue(x.next)).length;
  const item = ({ c, next, name }) =>
    h(
      "li",
      {},
      h(
        "a",
        { class: `case-link${next && overdue(next) ? " late" : ""}`, href: `#/case/${c.id}`, dataset: { caseId: c.id } },
        h("span", { class: "case-name" }, name),
        h("span", { class: "meta" }, ` · ${c.data.status}`),
        h("br"),
        truancyBadge(c.data.truancy),
        h("br"),
        h("span", { class: "meta" }, nextFollowUp(next)),
      ),
    );
  show(
    main,
    h("h1", {}, "Today's caseload"),
    cases.length
      ? [
          h("p", { class: "meta" }, `${open.length} open ${open.length === 1 ? "case" : "cases"}, soonest follow-up first`, late ? h("strong", { class: "overdue" }, ` · ${late} overdue`) : null),
          h("ul", { class: "cases" }, open.map(item)),
          closed.length ? [h("h2", {}, `Closed (${closed.length})`), h("ul", { class: "cases" }, closed.map(item))] : null,
        ]
      : h("p", { class: "empty" }, view.meta.cursor ? "No cases are assigned to you." : "Nothing synced yet: sync when you have a signal."),
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
  const home = householdOf(view, caseRow);
  if (!home) return h("p", { class: "empty" }, "No household on record.");
  const phones = [home.data.phone, home.data.alt_phone].filter(Boolean);
  return [
    home.data.address ? h("p", {}, home.data.address, pendingTag(home)) : pendingTag(home),
    phones.length ? h("p", {}, phones.map((p) => h("a", { class: "tel", href: telHref(p) }, `Call ${p}`))) : h("p", { class: "empty" }, "No phone number."),
    home.data.language ? h("p", { class: "meta" }, `Language: ${languageName(home.data.language)}`) : null,
    h("p", {}, h("a", { class: "button-link", href: `#/case/${caseRow.id}/household` }, "Edit household")),
  ];
}

// --- the casework on the case screen -----------------------------------------------------------------

function followUpCard(view, caseRow, item, meetingWaits, onDone) {
  const late = overdue(item);
  const row = item.row;
  const moved = row && (row.data.rescheduled || []).length ? row.data.rescheduled[row.data.rescheduled.length - 1] : null;
  return h(
    "li",
    { class: `card${late ? " late" : ""}`, dataset: { followUpId: item.id } },
    h("p", {}, h("strong", {}, item.title), pendingTag(row)),
    h(
      "p",
      { class: late ? "overdue" : "meta" },
      late ? h("strong", { class: "overdue-tag" }, "Overdue") : null,
      `${late ? " " : ""}${FOLLOW_UP_KINDS[item.kind] || item.kind} · ${late ? "was due" : "due"} ${day(item.due_on)}`,
    ),
    moved ? h("p", { class: "meta" }, `Moved from ${day(moved.from)}: ${moved.reason}`) : null,
    row && row.data.note ? h("p", {}, row.data.note) : null,
    item.kind === "parent_meeting" && item.trigger_day && meetingWaits(item.trigger_day)
      ? h("p", { class: "notice" }, "The meeting recorded on this phone completes this deadline once it syncs.")
      : null,
    row
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "button", onclick: async (e) => { e.currentTarget.disabled = true; await actions.completeFollowUp(row); onDone("Follow-up done."); } }, "Done"),
          h("a", { class: "button-link", href: `#/follow-up/${item.id}/move` }, "Move"),
        )
      : null,
  );
}

function assessmentCard(view, caseRow, a, first) {
  const d = a.data;
  const visit = d.visit_log_id ? view.get("visit_log", d.visit_log_id) : null;
  const others = (d.factors || []).filter((f) => f !== d.primary_factor);
  return h(
    "li",
    { class: "card", dataset: { assessmentId: a.id } },
    h("p", {}, h("strong", {}, `${first ? "First assessment" : "Reassessment"} · ${time(d.at)}`), pendingTag(a)),
    d.primary_factor ? h("p", {}, "Main: ", h("strong", {}, FACTOR_LABELS[d.primary_factor] || d.primary_factor)) : null,
    others.length ? h("ul", { class: "factors" }, others.map((f) => h("li", {}, FACTOR_LABELS[f] || f))) : null,
    d.strengths ? h("p", {}, h("em", {}, "Strengths: "), d.strengths) : null,
    d.student_voice ? h("p", {}, h("em", {}, "The student: "), `“${d.student_voice}”`) : null,
    d.notes ? h("p", {}, d.notes) : null,
    visit ? h("p", { class: "meta" }, `During the visit of ${time(visit.data.checked_in_at)}`) : null,
    flagLine(a),
    h("a", { class: "button-link", href: `#/case/${caseRow.id}/assess/${a.id}` }, "Edit"),
  );
}

function referralCard(r, onDone) {
  const d = r.data;
  return h(
    "li",
    { class: "card", dataset: { referralId: r.id } },
    h("p", {}, h("strong", {}, d.resource_name), pendingTag(r)),
    h("p", {}, h("span", { class: `status ${d.status}` }, REFERRAL_STATUSES[d.status] || d.status), h("span", { class: "meta" }, ` · since ${time(d.status_at || d.at)}`)),
    d.factor ? h("p", { class: "meta" }, `For: ${FACTOR_LABELS[d.factor] || d.factor}`) : null,
    d.note ? h("p", {}, d.note) : null,
    flagLine(r),
    h(
      "div",
      { class: "actions status-actions", role: "group", "aria-label": `Status of the referral to ${d.resource_name}` },
      Object.entries(REFERRAL_STATUSES)
        .filter(([status]) => status !== d.status)
        .map(([status, words]) =>
          h("button", { type: "button", class: "secondary", onclick: async (e) => { e.currentTarget.disabled = true; await actions.updateReferral(r, status); onDone(`Referral: ${words.toLowerCase()}.`); } }, words),
        ),
    ),
  );
}

function meetingCard(m) {
  const d = m.data;
  const yes = (b) => (b ? "yes" : "no");
  return h(
    "li",
    { class: "card", dataset: { meetingId: m.id } },
    h("p", {}, h("strong", {}, `Meeting ${time(d.held_at)}`), ` · ${PLACES[d.place] || d.place}`, pendingTag(m)),
    h("p", {}, `With ${(d.attendees || []).join(", ")}`),
    h("p", { class: "meta" }, `Interpreter: ${yes(d.interpreter)} · Attendance policy discussed: ${yes(d.policy_discussed)}${d.language ? ` · In ${languageName(d.language)}` : ""}`),
    d.agreements ? h("p", {}, h("em", {}, "Agreed: "), d.agreements) : null,
    d.next_meeting_on ? h("p", { class: "meta" }, `Next meeting on ${day(d.next_meeting_on)}`) : null,
    flagLine(m),
  );
}

/** The day of a moment on the phone's calendar, in words. */
const onDay = (iso) => (iso ? day(isoDay(new Date(iso))) : "");

/** Where a letter is, in words: a request waits for the office's next batch (so does one not pushed yet). */
function letterStatus(d) {
  if (d.status === "ready") return "Ready to print";
  if (d.status === "mailed") return `Mailed ${onDay(d.mailed_at)}`;
  if (d.status === "returned") return `Came back ${onDay(d.returned_at)} — check the address`;
  return "Waiting for the office's next batch";
}

function letterCard(view, caseRow, l) {
  const d = l.data;
  const home = householdOf(view, caseRow);
  const spoken = home && home.data.language ? languageName(home.data.language) : null;
  let language = null;
  if (d.fallback) language = `In English: no letters yet in ${spoken || "the family's language"}`;
  else if (d.language) language = `In ${languageName(d.language)}`;
  return h(
    "li",
    { class: "card", dataset: { letterId: l.id } },
    h("p", {}, h("strong", {}, LETTER_NAMES[d.kind] || d.kind), pendingTag(l)),
    h("p", {}, h("strong", { class: `letter-status ${d.status}` }, letterStatus(d)), d.created_at ? h("span", { class: "meta" }, ` · ${d.created_by ? "asked" : "made"} ${time(d.created_at)}`) : null),
    language ? h("p", { class: d.fallback ? null : "meta" }, language) : null,
    d.note ? h("p", {}, h("em", {}, "To the office: "), d.note) : null,
    d.kind === "custom" && d.body ? h("blockquote", { class: "letter-body" }, d.body) : null,
    flagLine(l),
  );
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

const PAST_DRAFT = new Set(["submitted", "approved", "returned"]);

function addenda(view, note) {
  return view
    .all("visit_note_addendum")
    .filter((a) => a.data.note_id === note.id)
    .map((a) => h("p", { class: "addendum" }, h("strong", {}, "Addendum: "), a.data.body, pendingTag(a)));
}

function addendumLink(note) {
  return PAST_DRAFT.has(note.data.status) ? h("a", { class: "button-link", href: `#/note/${note.id}/addendum` }, "Add addendum") : null;
}

function noteCard(view, note) {
  return h(
    "div",
    { class: "card", dataset: { noteId: note.id } },
    h("p", {}, h("strong", {}, `Note · ${note.data.status}`), pendingTag(note)),
    note.data.status === "returned" && note.data.review_comment ? h("p", { class: "error" }, `Returned: ${note.data.review_comment}`) : null,
    h("p", {}, note.data.body || h("em", {}, "(empty)")),
    addenda(view, note),
    addendumLink(note),
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
  const followUps = openFollowUps(view, c);
  const history = assessments(view, caseId);
  const referrals = view.all("service_referral").filter((r) => r.data.case_id === caseId).sort((a, b) => (a.data.at < b.data.at ? 1 : -1));
  const meetings = view.all("parent_meeting").filter((m) => m.data.case_id === caseId).sort((a, b) => (a.data.held_at < b.data.held_at ? 1 : -1));
  const sent = letters(view, caseId);
  const waiting = meetings.filter((m) => m.pending).map((m) => (m.data.held_at || "").slice(0, 10));
  const meetingWaits = (triggerDay) => waiting.some((held) => held >= triggerDay);
  const go = (href, words) => h("a", { class: "button-link", href }, words);
  show(main, 
    h("a", { class: "back", href: "#/" }, "← Caseload"),
    h("h1", {}, studentName(view, c)),
    h("p", { class: "meta" }, `Case ${c.data.status}`, student ? ` · Student ${student.data.student_number} · Grade ${student.data.grade}` : ""),
    h("p", {}, h("a", { class: "tel", href: `#/case/${caseId}/visit` }, open ? "Continue the home visit" : "Start a home visit")),
    h(
      "nav",
      { class: "case-actions", "aria-label": "Casework" },
      go(`#/case/${caseId}/assess`, "Assess"),
      go(`#/case/${caseId}/refer`, "Refer"),
      go(`#/case/${caseId}/meeting`, "Record meeting"),
      go(`#/case/${caseId}/follow-up`, "Schedule follow-up"),
      go(`#/case/${caseId}/letter`, "Ask for a letter"),
    ),
    h("h2", {}, `Open follow-ups (${followUps.length})`),
    followUps.length
      ? h("ul", { class: "plain" }, followUps.map((f) => followUpCard(view, c, f, meetingWaits, onDone)))
      : h("p", { class: "empty" }, "None."),
    h("h2", {}, "Truancy"),
    attendance(c.data.truancy),
    h("h2", {}, `Assessments (${history.length})`),
    history.length
      ? h("ul", { class: "plain" }, history.map((a, n) => assessmentCard(view, c, a, n === history.length - 1)))
      : h("p", { class: "empty" }, "Not assessed yet."),
    h("h2", {}, `Referrals (${referrals.length})`),
    referrals.length ? h("ul", { class: "plain" }, referrals.map((r) => referralCard(r, onDone))) : h("p", { class: "empty" }, "No referrals yet."),
    h("h2", {}, `Parent meetings (${meetings.length})`),
    meetings.length ? h("ul", { class: "plain" }, meetings.map(meetingCard)) : h("p", { class: "empty" }, "No meeting recorded yet."),
    h("h2", {}, `Letters (${sent.length})`),
    sent.length ? h("ul", { class: "plain" }, sent.map((l) => letterCard(view, c, l))) : h("p", { class: "empty" }, "No letters yet."),
    h("h2", {}, "Household"),
    household(view, c),
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
              (v.data.flags || []).length ? h("p", { class: "flag" }, flagWords(v.data.flags)) : null,
              notes.filter((n) => n.data.visit_log_id === v.id).map((n) => noteCard(view, n)),
            ),
          ),
          notes.filter((n) => !n.data.visit_log_id || !visits.some((v) => v.id === n.data.visit_log_id)).map((n) => noteCard(view, n)),
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
      ? [h("p", { class: "notice" }, note.data.status === "approved" ? "Approved: the note is locked." : "Submitted for review."), addenda(view, note), addendumLink(note)]
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

const CASE_RECORDS = ["visit_log", "visit_note", "follow_up", "assessment", "service_referral", "parent_meeting", "letter"];

/** The case a mutation is about: named in its args, or the case of the record it changes. */
function caseOf(view, m) {
  const a = m.args || {};
  if (a.case_id) return a.case_id;
  if (a.note_id) {
    const note = view.get("visit_note", a.note_id);
    return note ? note.data.case_id : null;
  }
  if (m.name === "household.update") {
    const student = view.all("student").find((s) => s.data.household_id === a.id);
    const c = student && view.all("case").find((k) => k.data.student_id === student.id);
    return c ? c.id : null;
  }
  for (const type of CASE_RECORDS) {
    const row = a.id ? view.get(type, a.id) : null;
    if (row) return row.data.case_id;
  }
  return null;
}

function describe(view, m) {
  const caseId = caseOf(view, m);
  const c = caseId ? view.get("case", caseId) : null;
  return `${MUTATION_WORDS[m.name] || m.name}${c ? ` · ${studentName(view, c)}` : ""} · ${time(m.queued_at)}`;
}

// The casework records the server flagged (stored anyway): by type, who made them, and their words.
const FLAGGED_CASEWORK = [
  ["assessment", "author_id", "assessment.save", "Assessment"],
  ["service_referral", "created_by", "service_referral.create", "Referral"],
  ["parent_meeting", "author_id", "parent_meeting.record", "Parent meeting"],
  ["letter", "created_by", "letter.request", "Letter"],
];

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
    return h("li", { class: "card" }, h("a", { href: `#/visit/${id}` }, `Visit${c ? ` · ${studentName(view, c)}` : ""}${v ? ` · ${time(v.data.checked_in_at)}` : ""}`), h("p", { class: "flag" }, flagWords(list)));
  });
  for (const [type, by, name, words] of FLAGGED_CASEWORK) {
    const seen = new Map();
    for (const r of view.all(type)) if (r.data[by] === view.me && (r.data.flags || []).length) seen.set(r.id, [r.data.case_id, r.data.flags]);
    for (const m of view.queue) {
      if (m.name === name && m.result && (m.result.flags || []).length && !seen.has(m.args.id)) seen.set(m.args.id, [m.args.case_id, m.result.flags]);
    }
    for (const [, [caseId, list]] of seen) {
      const c = view.get("case", caseId);
      flags.push(h("li", { class: "card" }, h("a", { href: `#/case/${caseId}` }, `${words}${c ? ` · ${studentName(view, c)}` : ""}`), h("p", { class: "flag" }, flagWords(list))));
    }
  }
  const returned = view
    .all("visit_note")
    .filter((n) => n.data.status === "returned")
    .map((n) => {
      const c = view.get("case", n.data.case_id);
      const href = n.data.visit_log_id ? `#/visit/${n.data.visit_log_id}` : `#/case/${n.data.case_id}`;
      return h("li", { class: "card" }, h("a", { href }, `Note · ${c ? studentName(view, c) : "a case"}`), h("p", {}, `Supervisor's comment: ${n.data.review_comment || "(none)"}`));
    });
  const conflicts = view.all("conflict").map((k) =>
    h("li", { class: "card" }, h("strong", {}, `${k.data.record_type.replaceAll("_", " ")}: ${CONFLICT_WORDS[k.data.kind] || k.data.kind}`), h("p", { class: "meta" }, conflictState(k.data))),
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
