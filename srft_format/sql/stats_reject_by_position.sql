-- srft stats: the reject rate by relative position in the trajectory, in deciles
-- (decile = 10 * step // n_steps: decile 0 holds the first tenth of each trajectory's steps).
SELECT
    grp,
    decile,
    count(*) FILTER (WHERE label IN ('correct', 'incorrect')) AS decided,
    count(*) FILTER (WHERE label = 'incorrect') AS incorrect,
    count(*) FILTER (WHERE label = 'incorrect')
        / nullif(count(*) FILTER (WHERE label IN ('correct', 'incorrect')), 0) AS reject_rate
FROM stats_labels
GROUP BY grp, decile
ORDER BY grp, decile;
