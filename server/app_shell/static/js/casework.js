// The casework screens, each a form of its own off the case screen (so each fits a phone held in
// one hand): Assess, Refer, Record meeting, Schedule follow-up, Move a follow-up, Ask for a letter,
// Add addendum, Edit household; and the Resources screen, the district's directory. Every one works
// offline: it reads the pulled records and queues a mutation (actions.js). Every control has a
// <label for>.

import * as actions from "./actions.js";
import { check, day, daysFromToday, field, h, localMinute, select, show, time, today } from "./dom.js";
import { CATEGORIES, FACTOR_LABELS, byCategory } from "./factors.js";
import { active, byName, distanceWords, languageName, matches, site, suggest, telHref } from "./resources.js";
import { FOLLOW_UP_KINDS, LETTER_KINDS, PLACES, assessments, householdOf, letters, studentName } from "./view.js";

const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
const COMMON_LANGUAGES = ["en", "es", "pt", "sq", "ar", "ht", "fr", "pl", "vi", "zh"];

function head(view, caseRow, title) {
  return [
    h("a", { class: "back", href: `#/case/${caseRow.id}` }, "← Case"),
    h("h1", {}, title),
    h("p", { class: "meta" }, studentName(view, caseRow)),
  ];
}

function notHere(main, what, back = "#/") {
  show(main, h("a", { class: "back", href: back }, "← Back"), h("p", { class: "empty" }, `This ${what} is not on this phone.`));
}

function problemLine() {
  return h("p", { role: "alert" });
}

function complain(line, message) {
  line.textContent = message;
  line.className = "error";
  line.scrollIntoView({ block: "center" });
}

const text = (attrs = {}) => h("input", { type: "text", ...attrs });
const area = (attrs = {}, value = "") => h("textarea", { rows: 3, class: "short", ...attrs }, value || "");

/** A form that queues its change once: the button is off while it is written. */
function form(button, submit, ...children) {
  return h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        try {
          if ((await submit()) === false) button.disabled = false;
        } catch (error) {
          button.disabled = false;
          throw error;
        }
      },
    },
    ...children,
    h("div", { class: "actions" }, button),
  );
}

/** Languages to choose from: the common ones of the district, the directory's, and ``current``. */
function languageSelect(view, name, current, { codesOnly = false, none = "Not said" } = {}) {
  const codes = new Set(COMMON_LANGUAGES);
  for (const r of view.all("resource")) for (const l of r.data.languages || []) codes.add(l);
  if (current && (!codesOnly || LANGUAGE_TAG.test(current))) codes.add(current);
  const sorted = [...codes].sort((a, b) => languageName(a).localeCompare(languageName(b)));
  const label = (code) => (languageName(code) === code ? code : `${languageName(code)} (${code})`);
  return h(
    "select",
    { name },
    h("option", { value: "", selected: !current }, none),
    sorted.map((code) => h("option", { value: code, selected: code === current }, label(code))),
  );
}

// --- Assess -----------------------------------------------------------------------------------------

export function assessScreen(main, view, { caseId, assessmentId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  const existing = assessmentId ? view.get("assessment", assessmentId) : null;
  if (assessmentId && !existing) return notHere(main, "assessment", `#/case/${caseId}`);
  const d = existing ? existing.data : {};
  const ticked = new Set(d.factors || []);
  const boxes = [];
  const primary = h("select", { name: "primary_factor" });
  const fillPrimary = () => {
    const keep = primary.value || (primary.options.length ? "" : d.primary_factor);
    primary.replaceChildren(
      h("option", { value: "" }, "Not named"),
      ...boxes.filter((b) => b.checked).map((b) => h("option", { value: b.value, selected: b.value === keep }, FACTOR_LABELS[b.value])),
    );
  };
  const groups = byCategory().map(([category, list]) =>
    h(
      "fieldset",
      {},
      h("legend", {}, CATEGORIES[category]),
      list.map((f) => {
        const box = h("input", { type: "checkbox", name: "factors", value: f.code, checked: ticked.has(f.code), onchange: fillPrimary });
        boxes.push(box);
        return check(f.label, box);
      }),
    ),
  );
  fillPrimary();
  const visits = view.all("visit_log").filter((v) => v.data.case_id === caseId).sort((a, b) => (a.data.checked_in_at < b.data.checked_in_at ? 1 : -1));
  const here = visits.find((v) => v.data.status === "open" && v.data.created_by === view.me) || visits.find((v) => (v.data.checked_in_at || "").slice(0, 10) === today());
  const linked = existing ? d.visit_log_id : here ? here.id : "";
  const visit = h(
    "select",
    { name: "visit_log_id" },
    h("option", { value: "" }, "Not about a visit"),
    visits.map((v) => h("option", { value: v.id, selected: v.id === linked }, `Visit ${time(v.data.checked_in_at)}${v.data.status === "open" ? " (now)" : ""}`)),
  );
  const strengths = area({ name: "strengths" }, d.strengths);
  const voice = area({ name: "student_voice" }, d.student_voice);
  const notes = area({ name: "notes" }, d.notes);
  const problem = problemLine();
  const button = h("button", { type: "submit" }, existing ? "Save changes" : "Save assessment");
  const submit = async () => {
    const factors = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!factors.length) {
      complain(problem, "Tick at least one factor (or “Something else”, and say what in the notes).");
      return false;
    }
    await actions.saveAssessment(existing, caseId, {
      factors,
      primary_factor: primary.value || null,
      visit_log_id: visit.value || null,
      strengths: strengths.value.trim(),
      student_voice: voice.value.trim(),
      notes: notes.value.trim(),
    });
    onDone(existing ? "Assessment changed." : "Assessment saved.", `#/case/${caseId}`);
    return true;
  };
  show(
    main,
    ...head(view, c, existing ? "Edit the assessment" : "Assess: why the child misses school"),
    existing ? h("p", { class: "meta" }, `Assessed ${time(d.at)}`) : null,
    form(
      button,
      submit,
      h("p", {}, "Tick every factor the family and the student describe."),
      groups,
      field("Main factor", primary),
      field("Strengths (what helps the child get to school)", strengths),
      field("The student's own words", voice),
      field("Notes", notes),
      field("Visit", visit),
      problem,
    ),
  );
}

// --- Refer ------------------------------------------------------------------------------------------

function resourceDetails(resource, { distance } = {}) {
  const d = resource.data;
  return [
    d.factors && d.factors.length ? h("p", { class: "meta" }, `Helps with: ${d.factors.map((f) => FACTOR_LABELS[f] || f).join("; ")}`) : null,
    h("p", { class: "meta" }, [d.languages && d.languages.length ? `Speaks ${d.languages.map(languageName).join(", ")}` : null, distance].filter(Boolean).join(" · ")),
    d.address ? h("p", {}, d.address) : null,
    d.hours ? h("p", { class: "meta" }, d.hours) : null,
  ];
}

function links(resource) {
  const d = resource.data;
  const web = d.website ? site(d.website) : null;
  return [
    d.phone ? h("p", {}, h("a", { class: "tel", href: telHref(d.phone) }, `Call ${d.phone}`)) : null,
    web ? h("p", {}, h("a", { href: web.href, target: "_blank", rel: "noopener noreferrer" }, `Website: ${web.host}`)) : null,
  ];
}

export function referScreen(main, view, { caseId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  const found = suggest(view, c);
  const suggestedIds = new Set(found.list.map((s) => s.resource.id));
  const radios = [];
  const others = h(
    "select",
    { name: "resource_id" },
    h("option", { value: "" }, "None chosen"),
    active(view).filter((r) => !suggestedIds.has(r.id)).sort(byName).map((r) => h("option", { value: r.id }, r.data.name)),
  );
  const typed = text({ name: "resource_name", autocomplete: "off", maxlength: 200 });
  const clear = (keep) => {
    if (keep !== "radio") for (const r of radios) r.checked = false;
    if (keep !== "select") others.value = "";
    if (keep !== "typed") typed.value = "";
  };
  others.addEventListener("change", () => others.value && clear("select"));
  typed.addEventListener("input", () => typed.value && clear("typed"));
  const cards = found.list.map(({ resource, matched, miles }) => {
    const radio = h("input", { type: "radio", name: "suggested", value: resource.id, onchange: () => clear("radio") });
    radios.push(radio);
    return h(
      "li",
      { class: "card suggestion", dataset: { resourceId: resource.id } },
      check(h("strong", {}, resource.data.name), radio),
      h("p", {}, h("strong", {}, "Matches: "), matched.map((f) => FACTOR_LABELS[f] || f).join("; ")),
      resourceDetails(resource, { distance: distanceWords(miles) }),
      links(resource),
    );
  });
  const [latest] = assessments(view, caseId);
  const assessed = latest ? latest.data.factors : [];
  const factor = h(
    "select",
    { name: "factor" },
    h("option", { value: "" }, "Not tied to one factor"),
    assessed.length ? h("optgroup", { label: "Assessed" }, assessed.map((f) => h("option", { value: f, selected: f === latest.data.primary_factor }, FACTOR_LABELS[f] || f))) : null,
    byCategory().map(([category, list]) => h("optgroup", { label: CATEGORIES[category].split(":")[0] }, list.filter((f) => !assessed.includes(f)).map((f) => h("option", { value: f.code }, f.label)))),
  );
  const note = area({ name: "note" });
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Refer");
  const submit = async () => {
    const radio = radios.find((r) => r.checked);
    const choice = radio ? { resource_id: radio.value } : others.value ? { resource_id: others.value } : typed.value.trim() ? { resource_name: typed.value.trim() } : null;
    if (!choice) {
      complain(problem, "Choose a resource, or type the name of one that is not in the directory.");
      return false;
    }
    await actions.refer(caseId, { ...choice, factor: factor.value || null, note: note.value.trim() });
    onDone("Referral made.", `#/case/${caseId}`);
    return true;
  };
  const language = found.language ? languageName(found.language) : null;
  let intro;
  if (!found.assessment) intro = h("p", { class: "notice" }, "Assess the case first: suggestions follow the factors of its latest assessment.");
  else if (!cards.length) intro = h("p", { class: "notice" }, `No active resource helps with the assessed factors${language ? ` in ${language}` : ""}. Choose one below or type its name.`);
  else intro = h("p", { class: "meta" }, `For the factors assessed ${day((found.assessment.data.at || "").slice(0, 10))}${language ? `, in ${language}` : ""}; nearest to the home first.`);
  show(
    main,
    ...head(view, c, "Refer to a resource"),
    form(
      button,
      submit,
      h("h2", {}, `Suggested (${cards.length})`),
      intro,
      cards.length ? h("ul", { class: "plain" }, cards) : null,
      h("h2", {}, "Or another"),
      field("Another resource in the directory", others),
      field("Or the name of one not in the directory", typed),
      h("h2", {}, "The referral"),
      field("Factor it answers", factor),
      field("Note", note),
      problem,
    ),
  );
}

// --- Record meeting ---------------------------------------------------------------------------------

export function meetingScreen(main, view, { caseId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  const home = householdOf(view, c);
  const homeLanguage = home && LANGUAGE_TAG.test(home.data.language || "") ? home.data.language : "";
  const heldAt = h("input", { type: "datetime-local", name: "held_at", value: localMinute(), required: true });
  const place = select("place", PLACES, "home");
  const attendees = area({ name: "attendees", placeholder: "One name a line, e.g. Rosa Alvarez (mother)" });
  const interpreter = h("input", { type: "checkbox", name: "interpreter" });
  const policy = h("input", { type: "checkbox", name: "policy_discussed", checked: true });
  const language = languageSelect(view, "language", homeLanguage, { codesOnly: true });
  const agreements = area({ name: "agreements" });
  const next = h("input", { type: "date", name: "next_meeting_on" });
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Record meeting");
  const submit = async () => {
    const people = attendees.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const when = new Date(heldAt.value);
    if (!heldAt.value || Number.isNaN(when.getTime())) { complain(problem, "Say when the meeting was held."); return false; }
    if (!people.length) { complain(problem, "Write who attended, one a line."); return false; }
    await actions.recordMeeting(caseId, {
      held_at: actions.localIso(when),
      place: place.value,
      attendees: people,
      interpreter: interpreter.checked,
      policy_discussed: policy.checked,
      language: language.value,
      agreements: agreements.value.trim(),
      next_meeting_on: next.value,
    });
    onDone("Meeting recorded.", `#/case/${caseId}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Record the parent meeting"),
    h("p", { class: "meta" }, "The meeting with the family the law requires (CGS 10-198a): recording it completes the meeting's deadline."),
    form(
      button,
      submit,
      field("Held at", heldAt),
      field("Place", place),
      field("Who attended (one a line)", attendees),
      check("An interpreter was there", interpreter),
      check("The attendance policy was discussed", policy),
      field("Language of the meeting", language),
      field("What was agreed", agreements),
      field("Next meeting on", next),
      problem,
    ),
  );
}

// --- Schedule and move follow-ups -------------------------------------------------------------------

export function followUpScreen(main, view, { caseId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  // After a meeting that set the next one, the form starts from it.
  const meetings = view.all("parent_meeting").filter((m) => m.data.case_id === caseId).sort((a, b) => (a.data.held_at < b.data.held_at ? 1 : -1));
  const nextOn = meetings.length && meetings[0].data.next_meeting_on >= today() ? meetings[0].data.next_meeting_on : null;
  const kind = select("kind", FOLLOW_UP_KINDS, nextOn ? "parent_meeting" : "home_visit");
  const title = text({ name: "title", required: true, maxlength: 200, value: nextOn ? "Next meeting with the family" : FOLLOW_UP_KINDS.home_visit });
  let titleTouched = false;
  title.addEventListener("input", () => { titleTouched = true; });
  kind.addEventListener("change", () => { if (!titleTouched) title.value = FOLLOW_UP_KINDS[kind.value]; });
  const due = h("input", { type: "date", name: "due_on", required: true, value: nextOn || daysFromToday(7) });
  const note = area({ name: "note" });
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Schedule");
  const submit = async () => {
    if (!title.value.trim()) { complain(problem, "Give the follow-up a title."); return false; }
    if (!due.value) { complain(problem, "Choose the day it is due."); return false; }
    await actions.scheduleFollowUp(caseId, { kind: kind.value, title: title.value.trim(), due_on: due.value, note: note.value.trim() });
    onDone("Follow-up scheduled.", `#/case/${caseId}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Schedule a follow-up"),
    form(button, submit, field("Kind", kind), field("Title", title), field("Due on", due), field("Note", note), problem),
  );
}

export function moveScreen(main, view, { followUpId }, onDone) {
  const f = view.get("follow_up", followUpId);
  const c = f && view.get("case", f.data.case_id);
  if (!f || !c) return notHere(main, "follow-up");
  const due = h("input", { type: "date", name: "due_on", required: true, value: f.data.due_on });
  const reason = area({ name: "reason", required: true, maxlength: 1000 });
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Move");
  const submit = async () => {
    if (!due.value) { complain(problem, "Choose the new day."); return false; }
    if (due.value === f.data.due_on) { complain(problem, "Choose another day than the one it is due."); return false; }
    if (!reason.value.trim()) { complain(problem, "Say why it moves."); return false; }
    await actions.moveFollowUp(f, due.value, reason.value.trim());
    onDone("Follow-up moved.", `#/case/${c.id}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Move a follow-up"),
    h("p", { class: "card" }, h("strong", {}, f.data.title), h("br"), `${FOLLOW_UP_KINDS[f.data.kind] || f.data.kind} · due ${day(f.data.due_on)}`),
    form(button, submit, field("New due date", due), field("Why it moves", reason), problem),
  );
}

// --- Ask for a letter -------------------------------------------------------------------------------

// When each kind is meant to go (docs/letters.md, Kinds), said under the choice.
const LETTER_WHEN = {
  attendance_notice: "Early, before the student is truant: after 3 unexcused absences in a month, or 7 in the year.",
  truancy_notice: "For a truant student: it invites the parent to the meeting the law wants within 10 school days.",
  habitual_truancy_notice: "For a student who is habitually truant.",
  chronic_absence_notice: "For a student absent, for any reason, 10% of the school days or more.",
  custom: "Your own words, printed as you write them and mailed by the office.",
};

// The kind the case's latest evaluation calls for, chosen at first.
const LETTER_FOR = { habitual: "habitual_truancy_notice", truant: "truancy_notice", chronic: "chronic_absence_notice" };

export function letterScreen(main, view, { caseId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  const asked = letters(view, caseId);
  const kind = select("kind", LETTER_KINDS, LETTER_FOR[c.data.truancy && c.data.truancy.status] || "attendance_notice");
  const when = h("p", { class: "meta", id: "letter-when" });
  kind.setAttribute("aria-describedby", "letter-when");
  const before = h("p", { class: "notice" });
  const body = area({ name: "body", rows: 8, maxlength: 5000, "aria-required": "true", "aria-describedby": "letter-body-problem" });
  body.classList.remove("short");
  const bodyProblem = h("p", { role: "alert", id: "letter-body-problem" });
  const ownWords = h("div", {}, field("The letter's text", body), bodyProblem);
  const note = area({ name: "note", maxlength: 10000 });
  const button = h("button", { type: "submit" }, "Ask for the letter");
  const fit = () => {
    when.textContent = LETTER_WHEN[kind.value];
    ownWords.hidden = kind.value !== "custom";
    const same = kind.value === "custom" ? null : asked.find((l) => l.data.kind === kind.value);
    before.hidden = !same;
    if (same) before.textContent = `This case already has a letter of this kind (${time(same.data.created_at)}). The office still makes another if you ask.`;
  };
  kind.addEventListener("change", fit);
  body.addEventListener("input", () => {
    if (!body.value.trim()) return;
    bodyProblem.textContent = "";
    bodyProblem.className = "";
    body.removeAttribute("aria-invalid");
  });
  fit();
  const submit = async () => {
    if (kind.value === "custom" && !body.value.trim()) {
      body.setAttribute("aria-invalid", "true");
      complain(bodyProblem, "Write the letter's text: the office prints your own letter as you write it.");
      body.focus();
      return false;
    }
    await actions.requestLetter(caseId, { kind: kind.value, note: note.value.trim(), body: body.value.trim() });
    onDone("Letter asked for: the office prints it with its next batch.", `#/case/${caseId}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Ask for a letter"),
    h("p", { class: "meta" }, "The office's next batch makes the letter in the family's language, with the student's absences as of that day, and mails it."),
    form(button, submit, field("Kind of letter", kind), when, before, ownWords, field("Note to the office (optional)", note)),
  );
}

// --- Add addendum -----------------------------------------------------------------------------------

export function addendumScreen(main, view, { noteId }, onDone) {
  const note = view.get("visit_note", noteId);
  const c = note && view.get("case", note.data.case_id);
  if (!note || !c) return notHere(main, "note");
  const addenda = view.all("visit_note_addendum").filter((a) => a.data.note_id === noteId);
  const body = area({ name: "addendum", required: true, rows: 5 });
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Add addendum");
  const submit = async () => {
    if (!body.value.trim()) { complain(problem, "Write the addendum first."); return false; }
    await actions.addAddendum(noteId, body.value.trim());
    onDone("Addendum added.", `#/case/${c.id}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Add an addendum"),
    h("p", { class: "meta" }, `The note is ${note.data.status}: it stays as it is, and the addendum follows it.`),
    h("blockquote", { class: "card" }, note.data.body || h("em", {}, "(empty)")),
    addenda.map((a) => h("p", { class: "card" }, h("strong", {}, "Addendum: "), a.data.body)),
    form(button, submit, field("Addendum", body), problem),
  );
}

// --- Edit household ---------------------------------------------------------------------------------

export function householdScreen(main, view, { caseId }, onDone) {
  const c = view.get("case", caseId);
  if (!c) return notHere(main, "case");
  const home = householdOf(view, c);
  if (!home) return notHere(main, "household", `#/case/${caseId}`);
  const d = home.data;
  const phone = h("input", { type: "tel", name: "phone", autocomplete: "off", maxlength: 32, value: d.phone || "" });
  const alt = h("input", { type: "tel", name: "alt_phone", autocomplete: "off", maxlength: 32, value: d.alt_phone || "" });
  const language = languageSelect(view, "language", d.language || "");
  const address = area({ name: "address", maxlength: 300, rows: 2 }, d.address);
  const problem = problemLine();
  const button = h("button", { type: "submit" }, "Save household");
  const submit = async () => {
    const now = { phone: phone.value.trim(), alt_phone: alt.value.trim(), language: language.value, address: address.value.trim() };
    const changes = {};
    for (const [k, v] of Object.entries(now)) if (v !== (d[k] || "")) changes[k] = v || null;
    if (!Object.keys(changes).length) { complain(problem, "Nothing changed."); return false; }
    await actions.updateHousehold(home, changes);
    onDone("Household saved.", `#/case/${caseId}`);
    return true;
  };
  show(
    main,
    ...head(view, c, "Edit the household"),
    form(
      button,
      submit,
      field("Phone", phone),
      field("Other phone", alt),
      field("Language at home", language),
      field("Address", address),
      problem,
    ),
  );
}

// --- Resources --------------------------------------------------------------------------------------

function resourceCard(resource) {
  const inactive = resource.data.active === false;
  return h(
    "li",
    { class: `card${inactive ? " inactive" : ""}`, dataset: { resourceId: resource.id } },
    h("h3", {}, resource.data.name),
    inactive ? h("p", { class: "flag" }, "No longer active: not suggested") : null,
    resourceDetails(resource),
    links(resource),
  );
}

export function resourcesScreen(main, view) {
  const all = view.all("resource").sort((a, b) => (a.data.active === false) - (b.data.active === false) || byName(a, b));
  const search = h("input", { type: "search", name: "q", autocomplete: "off", enterkeyhint: "search" });
  const count = h("p", { class: "meta", role: "status" });
  const list = h("ul", { class: "plain" });
  const draw = () => {
    const shown = all.filter((r) => matches(r, search.value));
    count.textContent = search.value.trim() ? `${shown.length} of ${all.length} match` : `${all.length} in the directory`;
    list.replaceChildren(...shown.map(resourceCard));
  };
  search.addEventListener("input", draw);
  draw();
  show(
    main,
    h("h1", {}, "Resources"),
    all.length
      ? [h("form", { role: "search", onsubmit: (e) => e.preventDefault() }, field("Search by name, need or language", search)), count, list]
      : h("p", { class: "empty" }, view.meta.cursor ? "The district's directory is empty." : "Nothing synced yet: sync when you have a signal."),
  );
}
