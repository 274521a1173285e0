-- effective_verdicts: one label per (dataset, trajectory_id, step) with at least one counted verdict,
-- exactly as srft_format.policy.VerdictPolicy.resolve computes it. The policy comes from variables:
--   SET VARIABLE srft_annotators = ['critic-a', 'critic-b'];  -- ids that count, in priority order ([] = all)
--   SET VARIABLE srft_order = ['alice', 'rules'];             -- with [] above: the priority order (by kind,
--                                                             -- VerdictPolicy.for_annotators); others after, by id
--   SET VARIABLE srft_resolution = 'priority';                -- priority | majority | veto | threshold
--   SET VARIABLE srft_threshold = 0.5;                        -- threshold: mean score below it is incorrect
-- A verdict's value is its score, else 1 (correct) / 0 (incorrect); `score` is the mean value (NULL if none).

CREATE OR REPLACE TEMP VIEW effective_verdicts AS
WITH counted AS (
    -- Priority order: by (rank, priority_name, priority), as VerdictPolicy._rank. rank: the position in the
    -- annotator list, else in srft_order (ids in neither: after all of them, then by id: priority_name). Within
    -- one annotator, its inline verdicts (by position) come before its sidecar verdict: priority.
    SELECT
        v.*,
        CASE WHEN len(getvariable('srft_annotators')) > 0 THEN list_position(getvariable('srft_annotators'), v.annotator)
             ELSE coalesce(list_position(getvariable('srft_order'), v.annotator),
                           len(getvariable('srft_order')) + 1) END AS rank,
        CASE WHEN len(getvariable('srft_annotators')) = 0
                  AND NOT list_contains(getvariable('srft_order'), v.annotator) THEN v.annotator ELSE '' END
            AS priority_name,
        CASE v.source WHEN 'inline' THEN v.ordinal ELSE (1::BIGINT << 39) END AS priority,
        coalesce(v.score, CASE v.label WHEN 'correct' THEN 1.0 WHEN 'incorrect' THEN 0.0 END) AS value
    FROM verdicts v
    WHERE len(getvariable('srft_annotators')) = 0 OR list_contains(getvariable('srft_annotators'), v.annotator)
),
combined AS (
    SELECT
        dataset, trajectory_id, step,
        count(*) AS n_verdicts,
        sum(value) / count(value) AS score,
        list(annotator ORDER BY rank, priority_name, priority) AS annotators,
        arg_min(label, (rank, priority_name, priority)) FILTER (WHERE label IN ('correct', 'incorrect')) AS first_decisive,
        count(*) FILTER (WHERE label = 'correct') AS n_correct,
        count(*) FILTER (WHERE label = 'incorrect') AS n_incorrect,
        bool_or(label = 'neutral') AS any_neutral
    FROM counted
    GROUP BY dataset, trajectory_id, step
)
SELECT
    dataset, trajectory_id, step,
    CASE
        WHEN getvariable('srft_resolution') = 'threshold' THEN
            CASE WHEN score IS NULL THEN 'unknown'
                 WHEN score >= getvariable('srft_threshold') THEN 'correct' ELSE 'incorrect' END
        WHEN n_correct + n_incorrect = 0 THEN CASE WHEN any_neutral THEN 'neutral' ELSE 'unknown' END
        WHEN getvariable('srft_resolution') = 'priority' THEN first_decisive
        WHEN getvariable('srft_resolution') = 'veto' THEN CASE WHEN n_incorrect > 0 THEN 'incorrect' ELSE 'correct' END
        ELSE CASE WHEN n_correct > n_incorrect THEN 'correct' ELSE 'incorrect' END
    END AS label,
    score,
    annotators,
    n_verdicts
FROM combined;
