-- srft report: the steps-per-trajectory histogram, as (n_steps, trajectories) pairs.
SELECT n_steps, count(*) AS trajectories
FROM trajectories
GROUP BY n_steps
ORDER BY n_steps;
