-- srft stats: the step reject rate per group: incorrect / (correct + incorrect) over labelled steps.
-- Reads stats_labels(grp, decile, label): the effective verdict of each labelled step (from stats_steps,
-- under the chosen policy), or with `--by annotator` every verdict, grouped by its annotator.
SELECT
    grp,
    count(*) AS labeled,
    count(*) FILTER (WHERE label = 'correct') AS correct,
    count(*) FILTER (WHERE label = 'incorrect') AS incorrect,
    count(*) FILTER (WHERE label = 'neutral') AS neutral,
    count(*) FILTER (WHERE label = 'unknown') AS unknown,
    count(*) FILTER (WHERE label = 'incorrect')
        / nullif(count(*) FILTER (WHERE label IN ('correct', 'incorrect')), 0) AS reject_rate
FROM stats_labels
GROUP BY grp
ORDER BY grp;
