-- srft stats: the training signal: assistant steps and completion tokens trained (weight > 0) under SFT, RFT
-- and SRFT, per group. steps_vs_rft / tokens_vs_rft compare with RFT: on the sft row, what RFT discards;
-- on the srft row, what SRFT keeps that RFT throws away (steps of unresolved trajectories it still trains).
WITH per_policy AS (
    UNPIVOT (
        SELECT grp, completion_tokens, sft_weight AS sft, rft_weight AS rft, srft_weight AS srft
        FROM stats_steps
    ) ON sft, rft, srft INTO NAME policy VALUE weight
),
totals AS (
    SELECT
        grp,
        policy,
        count(*) AS assistant_steps,
        count(*) FILTER (WHERE weight > 0) AS steps,
        sum(weight) AS weighted_steps,
        coalesce(sum(completion_tokens), 0)::BIGINT AS assistant_tokens,
        coalesce(sum(completion_tokens) FILTER (WHERE weight > 0), 0)::BIGINT AS tokens
    FROM per_policy
    GROUP BY grp, policy
)
SELECT
    grp,
    policy,
    steps,
    steps / assistant_steps AS steps_share,
    tokens,
    tokens / nullif(assistant_tokens, 0) AS tokens_share,
    weighted_steps,
    steps - max(steps) FILTER (WHERE policy = 'rft') OVER (PARTITION BY grp) AS steps_vs_rft,
    tokens - max(tokens) FILTER (WHERE policy = 'rft') OVER (PARTITION BY grp) AS tokens_vs_rft
FROM totals
ORDER BY grp, list_position(['sft', 'rft', 'srft'], policy);
