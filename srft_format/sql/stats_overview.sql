-- srft stats: trajectories, outcomes, steps and tokens per group.
-- Reads the srft views and stats_groups(dataset, trajectory_id, grp), the group of each trajectory
-- (`srft stats --by repo` defines it as SELECT dataset, id AS trajectory_id, repo AS grp FROM trajectories).
-- resolved_rate counts evaluated trajectories only (resolved true or false, not unknown).
SELECT
    g.grp,
    count(*) AS trajectories,
    count(*) FILTER (WHERE t.resolved) AS resolved,
    count(t.resolved) AS evaluated,
    count(*) FILTER (WHERE t.resolved) / nullif(count(t.resolved), 0) AS resolved_rate,
    sum(t.n_steps)::BIGINT AS steps,
    avg(t.n_steps) AS steps_per_trajectory,
    sum(t.prompt_tokens)::BIGINT AS prompt_tokens,
    sum(t.completion_tokens)::BIGINT AS completion_tokens,
    sum(t.cost) AS cost
FROM trajectories t
JOIN stats_groups g ON g.dataset = t.dataset AND g.trajectory_id = t.id
GROUP BY g.grp
ORDER BY g.grp;
