-- srft stats: the verdict distribution, per group and annotator (every verdict, inline and sidecar).
SELECT
    g.grp,
    v.annotator,
    count(*) AS verdicts,
    count(*) FILTER (WHERE v.label = 'correct') AS correct,
    count(*) FILTER (WHERE v.label = 'incorrect') AS incorrect,
    count(*) FILTER (WHERE v.label = 'neutral') AS neutral,
    count(*) FILTER (WHERE v.label = 'unknown') AS unknown,
    avg(v.score) AS mean_score
FROM verdicts v
JOIN stats_groups g USING (dataset, trajectory_id)
GROUP BY g.grp, v.annotator
ORDER BY g.grp, v.annotator;
