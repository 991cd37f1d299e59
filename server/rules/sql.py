"""The rules engine's set-based SQL: classify every absence, then evaluate every rule.

One statement classifies the absences of all students (or one) of a school year as of a
date; the same CTEs feed the per-student rule evaluation. Nothing loops over students in
Python. Parameters (bound by the caller): ``year_id``, ``as_of``, and the rule set's
``window``, ``tier``, ``wellness``, ``monthly``, ``yearly``, ``habitual``, ``chronic_pct``,
``meeting_days``; ``student_id`` when one student is asked for. See docs/rules.md.
"""

from __future__ import annotations

from schemas.attendance import DISCIPLINARY, EXCUSABLE_ANY_TIME, ReasonCode


def _sql_list(values: frozenset[ReasonCode]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


_MH = f"'{ReasonCode.MENTAL_HEALTH_DAY.value}'"

# Absences of the school year on or before as_of, classified. Every CTE is set-based.
_CLASSIFY = f"""
cal AS (
    SELECT school_id, day, row_number() OVER (PARTITION BY school_id ORDER BY day)::int AS seq
    FROM instructional_day WHERE school_year_id = :year_id
),
last_day AS (
    SELECT school_id, max(day) AS day FROM cal GROUP BY school_id
),
rec AS (
    SELECT a.student_id, a.school_id, a.day, c.seq, a.reason_code, a.tardy,
           a.minutes_present, a.minutes_scheduled, a.present_half_day,
           a.documentation_received_on AS documentation_received_on,
           CASE WHEN a.documentation_received_on <= :as_of THEN a.documentation_received_on END AS doc_on,
           coalesce(a.reason_code IN ({_sql_list(DISCIPLINARY)}), false) AS disciplinary
    FROM attendance_record a
    JOIN cal c ON c.school_id = a.school_id AND c.day = a.day
    WHERE a.day <= :as_of {{student_filter}}
      AND CASE WHEN a.minutes_present IS NOT NULL AND a.minutes_scheduled IS NOT NULL
               THEN a.minutes_present * 2 < a.minutes_scheduled
               ELSE a.present_half_day IS FALSE END
),
win AS (
    SELECT r.*,
        r.seq - row_number() OVER (PARTITION BY r.student_id, r.school_id ORDER BY r.seq) AS grp,
        lag(r.seq) OVER (PARTITION BY r.student_id, r.school_id ORDER BY r.seq) AS prev_seq,
        lag(r.reason_code) OVER (PARTITION BY r.student_id, r.school_id ORDER BY r.seq) AS prev_reason,
        count(*) FILTER (WHERE NOT r.disciplinary)
            OVER (PARTITION BY r.student_id ORDER BY r.day ROWS UNBOUNDED PRECEDING) AS n_abs
    FROM rec r
),
runs AS (
    SELECT w.*,
        max(w.seq) OVER (PARTITION BY w.student_id, w.school_id, w.grp) AS run_end,
        (w.reason_code = {_MH}
            AND NOT coalesce(w.prev_seq = w.seq - 1 AND w.prev_reason = {_MH}, false)) AS wellness_candidate
    FROM win w
),
well AS (
    SELECT r.*,
        CASE WHEN r.wellness_candidate THEN count(*) FILTER (WHERE r.wellness_candidate)
            OVER (PARTITION BY r.student_id ORDER BY r.day ROWS UNBOUNDED PRECEDING) END AS wellness_n
    FROM runs r
),
dl AS (
    SELECT w.*, ret.day AS return_day,
        CASE WHEN ret.day IS NOT NULL THEN coalesce(dead.day, ld.day) END AS deadline
    FROM well w
    JOIN last_day ld ON ld.school_id = w.school_id
    LEFT JOIN cal ret ON ret.school_id = w.school_id AND ret.seq = w.run_end + 1 AND ret.day <= :as_of
    LEFT JOIN cal dead ON dead.school_id = w.school_id AND dead.seq = w.run_end + 1 + :window
),
cls AS (
    SELECT d.student_id, d.school_id, d.day, d.seq, d.reason_code, d.tardy,
        d.minutes_present, d.minutes_scheduled, d.present_half_day,
        d.documentation_received_on, d.deadline,
        CASE WHEN NOT d.disciplinary THEN d.n_abs END AS number,
        CASE WHEN d.reason_code = {_MH} THEN
            CASE WHEN NOT d.wellness_candidate THEN 'consecutive'
                 WHEN d.wellness_n <= :wellness THEN 'allowed'
                 ELSE 'over_limit' END
        END AS wellness,
        CASE
            WHEN d.disciplinary THEN 'disciplinary'
            WHEN d.wellness_candidate AND d.wellness_n <= :wellness THEN 'excused'
            WHEN d.doc_on IS NOT NULL AND (d.deadline IS NULL OR d.doc_on <= d.deadline) THEN
                CASE WHEN d.n_abs < :tier OR d.reason_code IN ({_sql_list(EXCUSABLE_ANY_TIME)})
                     THEN 'excused' ELSE 'unexcused' END
            WHEN d.deadline IS NOT NULL AND :as_of > d.deadline THEN 'unexcused'
            ELSE 'pending'
        END AS classification,
        CASE
            WHEN d.disciplinary THEN 'disciplinary'
            WHEN d.wellness_candidate AND d.wellness_n <= :wellness THEN 'wellness_day'
            WHEN d.doc_on IS NOT NULL AND (d.deadline IS NULL OR d.doc_on <= d.deadline) THEN
                CASE WHEN d.n_abs < :tier OR d.reason_code IN ({_sql_list(EXCUSABLE_ANY_TIME)})
                     THEN 'documented' ELSE 'reason_not_accepted' END
            WHEN d.deadline IS NOT NULL AND :as_of > d.deadline THEN
                CASE WHEN d.doc_on IS NOT NULL THEN 'documented_late' ELSE 'no_documentation' END
            WHEN d.return_day IS NOT NULL THEN 'window_open'
            ELSE 'not_returned'
        END AS why
    FROM dl d
)"""

# Per student: the rules, from the classified absences and the enrolled days.
_EVALUATE = """
unex AS (
    SELECT c.student_id, c.school_id, c.day, c.seq,
        row_number() OVER (PARTITION BY c.student_id ORDER BY c.day) AS n_year,
        row_number() OVER (PARTITION BY c.student_id, date_trunc('month', c.day) ORDER BY c.day) AS n_month,
        count(*) OVER (PARTITION BY c.student_id ORDER BY c.day
                       RANGE BETWEEN '29 days'::interval PRECEDING AND CURRENT ROW) AS n_30
    FROM cls c WHERE c.classification = 'unexcused'
),
unex_agg AS (
    SELECT u.student_id,
        count(*) AS unexcused,
        max(CASE WHEN :rolling THEN u.n_30 ELSE u.n_month END) AS month_max,
        min(u.day) FILTER (WHERE (CASE WHEN :rolling THEN u.n_30 ELSE u.n_month END) >= :monthly) AS monthly_trigger,
        min(u.day) FILTER (WHERE u.n_year = :yearly) AS yearly_trigger,
        min(u.day) FILTER (WHERE u.n_year = :habitual) AS habitual_trigger
    FROM unex u GROUP BY u.student_id
),
abs_agg AS (
    SELECT c.student_id, count(*) AS absences FROM cls c GROUP BY c.student_id
),
span AS (
    SELECT min(day) AS first_day, max(day) AS last_day FROM cal
),
dayidx AS (
    SELECT s.school_id, g.d::date AS d, count(c.day) OVER (PARTITION BY s.school_id ORDER BY g.d) AS upto
    FROM (SELECT DISTINCT school_id FROM cal) s
    CROSS JOIN span
    CROSS JOIN LATERAL generate_series(span.first_day, span.last_day, interval '1 day') AS g(d)
    LEFT JOIN cal c ON c.school_id = s.school_id AND c.day = g.d::date
),
enr AS (
    SELECT e.student_id, sum(greatest(coalesce(t.upto, 0) - coalesce(f.upto, 0), 0))::int AS enrolled_days
    FROM enrollment e
    CROSS JOIN span
    LEFT JOIN dayidx t ON t.school_id = e.school_id
        AND t.d = least(coalesce(e.exited_on, span.last_day), CAST(:as_of AS date), span.last_day)
    LEFT JOIN dayidx f ON f.school_id = e.school_id
        AND f.d = greatest(e.entered_on, span.first_day) - 1
    WHERE e.school_year_id = :year_id AND e.entered_on <= :as_of {enrollment_filter}
    GROUP BY e.student_id
),
status AS (
    SELECT coalesce(a.student_id, n.student_id) AS student_id,
        coalesce(a.absences, 0)::int AS absences,
        coalesce(u.unexcused, 0)::int AS unexcused,
        coalesce(u.month_max, 0)::int AS month_max,
        coalesce(n.enrolled_days, 0)::int AS enrolled_days,
        u.monthly_trigger, u.yearly_trigger, u.habitual_trigger,
        CASE WHEN coalesce(n.enrolled_days, 0) > 0
             THEN 100.0 * coalesce(a.absences, 0) / n.enrolled_days ELSE 0 END::float8 AS absence_percent
    FROM abs_agg a
    FULL JOIN enr n ON n.student_id = a.student_id
    LEFT JOIN unex_agg u ON u.student_id = coalesce(a.student_id, n.student_id)
)"""


def classify_sql(one_student: bool, some: bool = False) -> str:
    """Every absence of the year so far, classified: for one student (``:student_id``), the
    students of ``:student_ids`` (a uuid array) when ``some``, or all."""
    flt = "AND a.student_id = :student_id" if one_student else ""
    if some:
        flt = "AND a.student_id = ANY(CAST(:student_ids AS uuid[]))"
    return "WITH " + _CLASSIFY.format(student_filter=flt) + "\nSELECT * FROM cls ORDER BY student_id, day"


# Per student: absences and unexcused absences by calendar month, ``{"YYYY-MM": [absences, unexcused]}``
# (as ``GET /students/{id}/truancy`` counts its ``months``).
_MONTHS = """
by_month AS (
    SELECT c.student_id, to_char(c.day, 'YYYY-MM') AS month, count(*) AS absences,
        count(*) FILTER (WHERE c.classification = 'unexcused') AS unexcused
    FROM cls c GROUP BY c.student_id, to_char(c.day, 'YYYY-MM')
),
months AS (
    SELECT m.student_id, jsonb_object_agg(m.month, jsonb_build_array(m.absences, m.unexcused)) AS months
    FROM by_month m GROUP BY m.student_id
)"""


def _status_ctes(match: str) -> str:
    """The classification and evaluation CTEs, for the students ``match`` names (a condition on
    ``student_id``, or empty for all)."""
    return (
        _CLASSIFY.format(student_filter=match and f"AND a.student_id {match}")
        + ","
        + _EVALUATE.format(enrollment_filter=match and f"AND e.student_id {match}")
    )


def status_sql(one_student: bool, months: bool = False) -> str:
    """One row per student with absences or an enrollment: counts, triggers, chronic percent
    (and, with ``months``, a last column ``months``: see ``_MONTHS``)."""
    ctes = _status_ctes("= :student_id" if one_student else "")
    if not months:
        return "WITH " + ctes + "\nSELECT s.*, s.absence_percent >= :chronic_pct AS chronic FROM status s"
    return (
        "WITH "
        + ctes
        + ","
        + _MONTHS
        + "\nSELECT s.*, s.absence_percent >= :chronic_pct AS chronic, m.months FROM status s "
        + "LEFT JOIN months m ON m.student_id = s.student_id"
    )


def statuses_sql(some: bool) -> str:
    """``status_sql``'s rows (with ``chronic``) for the students of ``:student_ids`` (a uuid array)
    when ``some``, else for every student of the year."""
    ctes = _status_ctes("= ANY(CAST(:student_ids AS uuid[]))" if some else "")
    return "WITH " + ctes + "\nSELECT s.*, s.absence_percent >= :chronic_pct AS chronic FROM status s"


def truant_sql(after: bool) -> str:
    """The students among ``:student_ids`` who are truant (or habitually truant) on ``as_of``: the
    rules' counts and triggers, and ``became_on``, the first trigger. Keyset order by
    (``became_on``, ``student_id``), after (``:after_day``, ``:after_id``) when ``after``; at most
    ``:limit`` rows."""
    keyset = "WHERE (t.became_on, t.student_id) > (CAST(:after_day AS date), CAST(:after_id AS uuid))" if after else ""
    return (
        "WITH "
        + _status_ctes("= ANY(CAST(:student_ids AS uuid[]))")
        + """,
truant AS (
    SELECT s.student_id, s.unexcused, s.month_max, s.monthly_trigger, s.yearly_trigger, s.habitual_trigger,
        least(s.monthly_trigger, s.yearly_trigger, s.habitual_trigger) AS became_on
    FROM status s
    WHERE s.monthly_trigger IS NOT NULL OR s.yearly_trigger IS NOT NULL OR s.habitual_trigger IS NOT NULL
)
SELECT t.* FROM truant t """
        + keyset
        + "\nORDER BY t.became_on, t.student_id LIMIT :limit"
    )


def unexcused_days_sql() -> str:
    """The days of the year so far on which each student of ``:student_ids`` (a uuid array) has an
    unexcused absence: the classification above, as of ``:as_of``."""
    flt = "AND a.student_id = ANY(CAST(:student_ids AS uuid[]))"
    return (
        "WITH "
        + _CLASSIFY.format(student_filter=flt)
        + "\nSELECT student_id, day FROM cls WHERE classification = 'unexcused' ORDER BY student_id, day"
    )
