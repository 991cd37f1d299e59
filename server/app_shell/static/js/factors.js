// Why a child misses school: the assessment's factors, their categories and labels, as
// schemas/casework.py FACTORS lists them (the root-cause frame of Attendance Works). The app cannot
// ask GET /assessment-factors (it speaks only the sync protocol), so it keeps its own copy here;
// tests/test_app_factors.py checks that the two are the same, code for code, label for label.
// FACTORS is JSON between its brackets (that test reads it as such).

export const CATEGORIES = {
  barriers: "Barriers: what keeps the child from getting to school",
  aversion: "Aversion: negative experiences at school",
  disengagement: "Disengagement: school does not hold the child",
  misconceptions: "Misconceptions about absences",
  other: "Other",
};

export const FACTORS = [
  {"code": "transportation", "category": "barriers", "label": "No reliable way to get to school"},
  {"code": "student_illness", "category": "barriers", "label": "The student is often sick"},
  {"code": "chronic_health_condition", "category": "barriers", "label": "A chronic health condition (asthma, diabetes, ...)"},
  {"code": "family_illness", "category": "barriers", "label": "Illness in the family"},
  {"code": "caring_for_family", "category": "barriers", "label": "Caring for a sibling or another family member"},
  {"code": "housing_instability", "category": "barriers", "label": "Housing instability or homelessness"},
  {"code": "food_insecurity", "category": "barriers", "label": "Not enough food at home"},
  {"code": "clothing_or_supplies", "category": "barriers", "label": "No clean clothes, uniform or supplies"},
  {"code": "family_work_schedule", "category": "barriers", "label": "A parent's work schedule"},
  {"code": "unsafe_route", "category": "barriers", "label": "An unsafe way to school"},
  {"code": "legal_or_immigration", "category": "barriers", "label": "Legal or immigration worries"},
  {"code": "bullying", "category": "aversion", "label": "Bullying"},
  {"code": "peer_conflict", "category": "aversion", "label": "Conflict with other students"},
  {"code": "school_discipline", "category": "aversion", "label": "Suspensions or other school discipline"},
  {"code": "academic_difficulty", "category": "aversion", "label": "Struggling with schoolwork"},
  {"code": "anxiety_or_mental_health", "category": "aversion", "label": "Anxiety or another mental health need"},
  {"code": "conflict_with_staff", "category": "aversion", "label": "Conflict with a teacher or other staff"},
  {"code": "unmet_special_needs", "category": "aversion", "label": "Special education or disability needs not met"},
  {"code": "no_caring_adult", "category": "disengagement", "label": "No caring adult at school"},
  {"code": "not_connected_to_learning", "category": "disengagement", "label": "Not connected to what is taught"},
  {"code": "peers_out_of_school", "category": "disengagement", "label": "Friends who are out of school"},
  {"code": "student_employment", "category": "disengagement", "label": "The student works"},
  {"code": "substance_use", "category": "disengagement", "label": "Alcohol or drug use"},
  {"code": "excused_absences_dont_matter", "category": "misconceptions", "label": "Believes excused absences do not matter"},
  {"code": "unaware_of_absence_count", "category": "misconceptions", "label": "Did not know how many days were missed"},
  {"code": "sporadic_absences_dont_matter", "category": "misconceptions", "label": "Believes a day here and there does not matter"},
  {"code": "unaware_of_law", "category": "misconceptions", "label": "Did not know the attendance law"},
  {"code": "other", "category": "other", "label": "Something else (see the notes)"}
];

export const FACTOR_LABELS = Object.fromEntries(FACTORS.map((f) => [f.code, f.label]));

/** The factors grouped by category, in the order above: [[category, [factor…]]…]. */
export function byCategory() {
  return Object.keys(CATEGORIES).map((category) => [category, FACTORS.filter((f) => f.category === category)]);
}
